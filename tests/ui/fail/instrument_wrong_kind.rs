// An instrument from a descriptor of another kind, or of another number
// type, does not compile.
use semtel::conventions::metric::HTTP_CLIENT_REQUEST_DURATION; // a histogram of double
use semtel::conventions::pipeline::metric::{PIPELINE_BACKLOG, PIPELINE_RETRIES}; // int
use semtel::instrument::{Counter, Gauge, Histogram};

static REQUESTS: Counter<u64> = Counter::new(HTTP_CLIENT_REQUEST_DURATION);
static RETRIES: Counter<f64> = Counter::new(PIPELINE_RETRIES);
static BACKLOG: Gauge<f64> = Gauge::new(PIPELINE_BACKLOG);
static DURATION: Histogram<i64> = Histogram::new(HTTP_CLIENT_REQUEST_DURATION);

fn main() {}
