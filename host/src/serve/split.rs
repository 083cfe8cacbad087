//! Weighted traffic split between the versions of a model: smooth weighted round-robin (as
//! nginx does), so every window of `sum(weights)` requests follows the weights exactly and
//! versions interleave instead of arriving in bursts.

use std::sync::Mutex;

pub(crate) struct Split {
    weights: Vec<u32>,
    current: Mutex<Vec<i64>>,
}

impl Split {
    /// `weights[i]` is the share of version `i`. All zero: everything goes to the last one
    /// (the newest listed), which is what a plain `serve a.wasm b.wasm` of two versions means.
    pub(crate) fn new(mut weights: Vec<u32>) -> Split {
        if weights.iter().all(|&w| w == 0)
            && let Some(last) = weights.last_mut()
        {
            *last = 1;
        }
        let current = Mutex::new(vec![0; weights.len()]);
        Split { weights, current }
    }

    pub(crate) fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// The index of the version the next request goes to.
    pub(crate) fn pick(&self) -> usize {
        let mut current = self.current.lock().expect("split lock");
        let total: i64 = self.weights.iter().map(|&w| w as i64).sum();
        let mut best = 0;
        for (i, &w) in self.weights.iter().enumerate() {
            current[i] += w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(split: &Split, n: usize) -> Vec<usize> {
        let mut counts = vec![0; split.weights().len()];
        for _ in 0..n {
            counts[split.pick()] += 1;
        }
        counts
    }

    #[test]
    fn follows_weights_exactly_per_window() {
        assert_eq!(counts(&Split::new(vec![90, 10]), 100), [90, 10]);
        assert_eq!(counts(&Split::new(vec![1, 2, 3]), 600), [100, 200, 300]);
        assert_eq!(counts(&Split::new(vec![0, 5]), 10), [0, 10]);
    }

    #[test]
    fn interleaves() {
        let split = Split::new(vec![1, 1]);
        let picks: Vec<usize> = (0..4).map(|_| split.pick()).collect();
        assert_eq!(picks, [0, 1, 0, 1]);
    }

    #[test]
    fn unweighted_goes_to_newest() {
        assert_eq!(counts(&Split::new(vec![0, 0, 0]), 5), [0, 0, 5]);
    }
}
