// Instruments from descriptors of their kind and number type, as statics.
use semtel::conventions::metric::HTTP_CLIENT_REQUEST_DURATION;
use semtel::conventions::pipeline::metric::{PIPELINE_BACKLOG, PIPELINE_RETRIES, PIPELINE_STAGE_ACTIVE};
use semtel::instrument::{Attribute, Counter, Gauge, Histogram, UpDownCounter};

static REQUESTS: Histogram<f64> = Histogram::new(HTTP_CLIENT_REQUEST_DURATION);
static RETRIES: Counter<u64> = Counter::new(PIPELINE_RETRIES);
static BACKLOG: Gauge<u64> = Gauge::new(PIPELINE_BACKLOG);
static SIGNED_BACKLOG: Gauge<i64> = Gauge::new(PIPELINE_BACKLOG);
static ACTIVE: UpDownCounter<i64> = UpDownCounter::new(PIPELINE_STAGE_ACTIVE);

fn main() {
    let stage = Attribute::new(semtel::conventions::pipeline::attribute::PIPELINE_STAGE_NAME, "load");
    REQUESTS.record(0.5, &[]);
    RETRIES.add(1, std::slice::from_ref(&stage));
    BACKLOG.record(3, &[]);
    SIGNED_BACKLOG.record(-3, &[]);
    ACTIVE.add(-1, &[stage]);
    let local = Counter::<u64>::new(PIPELINE_RETRIES);
    local.add(2, &[]);
}
