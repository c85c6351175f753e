//! Cohen's κ and its 95 % interval (`lungdesk_domain::agreement`) against reference numbers
//! computed independently with scikit-learn and statsmodels (`tools/kappa_reference.py`) on
//! SYNTHETIC confusion tables, and the drift monitor's χ² test of the grade mix against
//! scipy on SYNTHETIC mixes.

use lungdesk_domain::{Confusion4, Kappa};
use lungdesk_tests::reference;

fn close(got: Option<f64>, want: &serde_json::Value, what: &str) {
    let want = want.as_f64().expect("a number");
    let got = got.unwrap_or_else(|| panic!("{what}: undefined, want {want}"));
    assert!((got - want).abs() < 1e-9, "{what}: {got} against the reference {want}");
}

#[test]
fn synthetic_kappa_and_its_interval_match_scikit_learn_and_statsmodels() {
    let reference = reference("kappa.json");
    let cases = reference["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut table = Confusion4::default();
        for (i, row) in case["table"].as_array().expect("table").iter().enumerate() {
            for (j, n) in row.as_array().expect("row").iter().enumerate() {
                table.counts[i][j] = n.as_u64().expect("count");
            }
        }
        for (kind, k) in [("unweighted", table.kappa()), ("linear", table.linear_kappa())] {
            let want = &case[kind];
            let Kappa { kappa, se, low, high } = k;
            close(kappa, &want["kappa"], &format!("{name} {kind} kappa"));
            close(se, &want["se"], &format!("{name} {kind} se"));
            close(low, &want["low"], &format!("{name} {kind} low"));
            close(high, &want["high"], &format!("{name} {kind} high"));
        }
    }
}

#[test]
fn synthetic_grade_mix_chi_square_matches_scipy() {
    let reference = reference("kappa.json");
    let mixes = reference["grade_mix"].as_array().expect("grade_mix");
    assert!(mixes.len() >= 4);
    let counts = |v: &serde_json::Value| -> Vec<u64> {
        v.as_array().expect("counts").iter().map(|n| n.as_u64().expect("a count")).collect()
    };
    for m in mixes {
        let name = m["name"].as_str().expect("name");
        let p = lungdesk_domain::drift::chi_square_homogeneity(&counts(&m["recent"]), &counts(&m["history"]));
        let want = m["p_value"].as_f64().expect("p");
        // Relative: the p-values span 1e-38 to 0.1.
        assert!((p - want).abs() <= 1e-9 * want.max(1e-300) + 1e-300, "{name}: p {p} against scipy's {want}");
    }
}
