//! Agreement between two readings of the same cases (the AI against a reader, or two
//! readers): the confusion matrix and Cohen's κ, unweighted and linear-weighted, with the
//! asymptotic 95 % confidence interval of Fleiss, Cohen & Everitt (1969).
//!
//! The RSNA categories are treated as ordered 1–4 for the weighted κ (linear weights
//! 1 − |i − j| / 3), the convention of reader studies of the classification.

use serde::{Deserialize, Serialize};

/// Counts of grade pairs: `counts[a - 1][b - 1]` cases graded `a` by the first reading and `b`
/// by the second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion4 {
    pub counts: [[u64; 4]; 4],
}

/// κ with its interval; `None` fields where they are undefined (no cases, or both readings
/// putting every case in one and the same category).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kappa {
    pub kappa: Option<f64>,
    /// Asymptotic standard error (not under the null hypothesis).
    pub se: Option<f64>,
    /// 95 % interval, κ ± 1.96 se.
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// The normal quantile of a two-sided 95 % interval.
const Z_95: f64 = 1.959_963_984_540_054;

impl Confusion4 {
    /// Adds a pair of grades 1–4 (others are ignored).
    pub fn add(&mut self, first: u8, second: u8) {
        self.add_cases(first, second, 1);
    }

    /// Adds `n` cases of the pair of grades 1–4 (others are ignored).
    pub fn add_cases(&mut self, first: u8, second: u8, n: u64) {
        if (1..=4).contains(&first) && (1..=4).contains(&second) {
            self.counts[usize::from(first - 1)][usize::from(second - 1)] += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Cases graded the same by both.
    pub fn agreeing(&self) -> u64 {
        (0..4).map(|i| self.counts[i][i]).sum()
    }

    /// Cohen's unweighted κ.
    pub fn kappa(&self) -> Kappa {
        let mut w = [[0.0; 4]; 4];
        for (i, row) in w.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        self.weighted_kappa(&w)
    }

    /// κ with linear agreement weights 1 − |i − j| / 3.
    pub fn linear_kappa(&self) -> Kappa {
        let mut w = [[0.0; 4]; 4];
        for (i, row) in w.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = 1.0 - (i.abs_diff(j) as f64) / 3.0;
            }
        }
        self.weighted_kappa(&w)
    }

    /// κ with agreement weights `w` (1 on the diagonal) and its asymptotic variance
    /// (Fleiss, Cohen & Everitt 1969, eq. 13).
    fn weighted_kappa(&self, w: &[[f64; 4]; 4]) -> Kappa {
        let undefined = Kappa { kappa: None, se: None, low: None, high: None };
        let n = self.total() as f64;
        if n == 0.0 {
            return undefined;
        }
        let p: Vec<[f64; 4]> = self.counts.iter().map(|r| r.map(|c| c as f64 / n)).collect();
        let rows: Vec<f64> = (0..4).map(|i| p[i].iter().sum()).collect();
        let cols: Vec<f64> = (0..4).map(|j| (0..4).map(|i| p[i][j]).sum()).collect();
        let mut observed = 0.0;
        let mut expected = 0.0;
        for i in 0..4 {
            for j in 0..4 {
                observed += w[i][j] * p[i][j];
                expected += w[i][j] * rows[i] * cols[j];
            }
        }
        if (1.0 - expected).abs() < 1e-12 {
            return undefined;
        }
        let kappa = (observed - expected) / (1.0 - expected);
        // Mean weight of row i over the second reading's margins, and of column j over the first's.
        let w_row: Vec<f64> = (0..4).map(|i| (0..4).map(|j| cols[j] * w[i][j]).sum()).collect();
        let w_col: Vec<f64> = (0..4).map(|j| (0..4).map(|i| rows[i] * w[i][j]).sum()).collect();
        let mut sum = 0.0;
        for i in 0..4 {
            for j in 0..4 {
                sum += p[i][j] * (w[i][j] - (w_row[i] + w_col[j]) * (1.0 - kappa)).powi(2);
            }
        }
        let variance = (sum - (kappa - expected * (1.0 - kappa)).powi(2)) / ((1.0 - expected).powi(2) * n);
        let se = variance.max(0.0).sqrt();
        Kappa { kappa: Some(kappa), se: Some(se), low: Some(kappa - Z_95 * se), high: Some(kappa + Z_95 * se) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_agreement_is_one_and_none_is_undefined() {
        let mut c = Confusion4::default();
        for g in 1..=4 {
            for _ in 0..10 {
                c.add(g, g);
            }
        }
        assert!((c.kappa().kappa.expect("kappa") - 1.0).abs() < 1e-12);
        assert!(c.kappa().se.expect("se") < 1e-9);
        assert_eq!(Confusion4::default().kappa().kappa, None, "no cases");
        let mut one = Confusion4::default();
        one.add(4, 4);
        one.add(4, 4);
        assert_eq!(one.kappa().kappa, None, "every case in one category by both: chance agreement is 1");
        one.add(9, 1);
        assert_eq!(one.total(), 2, "a grade outside 1–4 is not counted");
    }

    #[test]
    fn agreement_at_chance_is_zero() {
        // Every pair once: the readings are independent, κ = 0 exactly.
        let mut c = Confusion4::default();
        for a in 1..=4 {
            for b in 1..=4 {
                c.add(a, b);
            }
        }
        assert!(c.kappa().kappa.expect("kappa").abs() < 1e-12);
        assert!(c.linear_kappa().kappa.expect("kappa").abs() < 1e-12);
    }
}
