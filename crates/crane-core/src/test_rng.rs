//! The source of randomness of the property tests: a *tape* of numbers that proptest generates and shrinks. Each
//! draw takes the next number; past the end of the tape every draw is 0, the simplest choice. When a property fails,
//! proptest shortens the tape and lowers its numbers, so the failing case it reports is a small one (few apps, few
//! containers, low counts), and the seed it records reproduces it.

use proptest::prelude::*;

/// Draws from a tape.
pub(crate) struct Rng {
    tape: Vec<u64>,
    position: usize,
}

/// Tapes for [`Rng`]: long enough for the largest case the generators draw.
pub(crate) fn tape() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(any::<u64>(), 0..256)
}

impl Rng {
    /// Draws from `tape`, then zeros.
    pub fn new(tape: Vec<u64>) -> Rng {
        Rng { tape, position: 0 }
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        let value = self.tape.get(self.position).copied().unwrap_or(0);
        self.position += 1;
        value
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True `percent` % of the time (a zero draw is false: the simpler case).
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 >= 100 - percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
