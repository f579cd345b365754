//! What an export queue holds: its items in the vectors they came in, each
//! at most a batch.

use std::collections::VecDeque;

/// The most items a chunk has room for when it is made: room for a whole
/// batch of the largest size accepted (1,048,576 log records) would take
/// hundreds of megabytes at the first one queued.
const FIRST_CHUNK: usize = 4096;

/// Queued items in chunks of at most one export batch each. A producer's
/// batches go in whole and a worker takes one out whole, so an item is not
/// copied on its way through the queue: copying span records into a
/// `VecDeque` and out again into the batch would cost the collector and
/// the worker about as much as the duration histogram does.
#[derive(Debug)]
pub(crate) struct Chunks<T> {
    chunks: VecDeque<Vec<T>>,
    len: usize,
    /// The most items a chunk holds: the export batch size.
    batch: usize,
}

impl<T> Chunks<T> {
    pub(crate) fn new(batch: usize) -> Self {
        Self {
            chunks: VecDeque::new(),
            len: 0,
            batch: batch.max(1),
        }
    }

    /// Items queued.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one item, to the last chunk while it holds less than a batch.
    pub(crate) fn push(&mut self, item: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < self.batch => last.push(item),
            _ => {
                // A batch's room at once, unless batches are large (up
                // to the bound on the batch size): those grow as filled.
                let mut chunk = Vec::with_capacity(self.batch.min(FIRST_CHUNK));
                chunk.push(item);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// Appends a chunk of at most a batch ([`batches`]): whole, or copied
    /// into the last chunk when both fit in one batch.
    pub(super) fn append(&mut self, mut chunk: Vec<T>) {
        debug_assert!(chunk.len() <= self.batch, "a chunk is at most a batch");
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        match self.chunks.back_mut() {
            Some(last) if last.len() + chunk.len() <= self.batch => last.append(&mut chunk),
            _ => self.chunks.push_back(chunk),
        }
    }

    /// The chunks, in order: batches of at most the batch size.
    pub(crate) fn into_batches(self) -> Vec<Vec<T>> {
        self.chunks.into()
    }

    /// Takes the next batch: the first chunk, whole. (Two chunks next to
    /// each other never fit in one batch together: [`Chunks::append`]
    /// would have joined them.)
    pub(super) fn take(&mut self) -> Vec<T> {
        let batch = self.chunks.pop_front().unwrap_or_default();
        self.len -= batch.len();
        batch
    }
}

/// `chunks` as batches of at most `size` items, in order: each as it is
/// when small enough (not copied), else split, each item copied once.
pub(super) fn batches<T>(chunks: Vec<Vec<T>>, size: usize) -> VecDeque<Vec<T>> {
    let size = size.max(1);
    let mut out = VecDeque::with_capacity(chunks.len());
    for chunk in chunks {
        if chunk.len() <= size {
            if !chunk.is_empty() {
                out.push_back(chunk);
            }
            continue;
        }
        let mut items = chunk.into_iter();
        while items.len() > 0 {
            out.push_back(items.by_ref().take(size).collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(chunks: &mut Chunks<u32>) -> Vec<Vec<u32>> {
        let mut taken = Vec::new();
        while !chunks.is_empty() {
            taken.push(chunks.take());
        }
        taken
    }

    #[test]
    fn a_full_chunk_goes_in_and_out_without_a_copy() {
        let mut chunks = Chunks::new(3);
        let chunk = vec![1, 2, 3];
        let at = chunk.as_ptr();
        chunks.append(chunk);
        assert_eq!(chunks.len(), 3);
        let batch = chunks.take();
        assert_eq!(batch, [1, 2, 3]);
        assert_eq!(batch.as_ptr(), at, "the same allocation");
        assert!(chunks.is_empty());
    }

    #[test]
    fn small_chunks_and_single_items_make_up_whole_batches_in_order() {
        let mut chunks = Chunks::new(4);
        chunks.push(1);
        chunks.append(vec![2, 3]);
        chunks.append(vec![4, 5]);
        chunks.push(6);
        chunks.append(vec![7, 8, 9, 10]);
        chunks.append(Vec::new());
        assert_eq!(chunks.len(), 10);
        assert_eq!(
            drain(&mut chunks),
            [vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9, 10]]
        );
        assert_eq!(chunks.len(), 0);
        assert_eq!(chunks.take(), Vec::<u32>::new());
    }

    #[test]
    fn a_chunk_that_does_not_fit_with_the_last_stays_whole() {
        let mut chunks = Chunks::new(4);
        chunks.append(vec![1, 2, 3]);
        let mut chunk = Vec::with_capacity(4);
        chunk.extend([4, 5]);
        let at = chunk.as_ptr();
        chunks.append(chunk);
        chunks.append(vec![6]);
        assert_eq!(chunks.take(), [1, 2, 3]);
        let second = chunks.take();
        assert_eq!(second, [4, 5, 6]);
        assert_eq!(second.as_ptr(), at, "the last chunk takes what fits in");
    }

    #[test]
    fn items_pushed_one_by_one_come_out_as_whole_batches() {
        let mut chunks = Chunks::new(2);
        for i in 1..=5 {
            chunks.push(i);
        }
        assert_eq!(chunks.into_batches(), [vec![1, 2], vec![3, 4], vec![5]]);
    }

    #[test]
    fn batches_splits_only_what_is_larger_than_a_batch() {
        let small = vec![1, 2];
        let at = small.as_ptr();
        let split = batches(vec![small, Vec::new(), (3..=9).collect()], 3);
        assert_eq!(split, [vec![1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]);
        assert_eq!(split[0].as_ptr(), at, "a small enough chunk is not copied");
        assert!(batches(Vec::<Vec<u32>>::new(), 0).is_empty());
        assert_eq!(batches(vec![vec![1, 2]], 0), [vec![1], vec![2]]);
    }
}
