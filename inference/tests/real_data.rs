//! The HU baseline on the real CT series in ../shared/data. There is no lesion ground truth
//! for them, so these tests check only what anatomy makes certain: two lungs of plausible
//! volume. The numbers are printed for the record.

use lungdesk_inference::baseline::{BaselineParams, segment};
use lungdesk_inference::grade::grade;
use lungdesk_inference::quantify::quantify;
use lungdesk_volume::shared_data::real_data;
use lungdesk_volume::{Progress, load_folder};

#[test]
fn baseline_finds_two_lungs_of_plausible_volume_in_real_series() {
    for name in ["ricord-1a-covid", "lung-pet-ct-dx-a0002"] {
        let Some(dir) = real_data(&format!("ct/{name}")) else { continue };
        let volume = load_folder(&dir, None).expect("load");
        let found = segment(&volume.geometry, &volume.voxels_hu, &BaselineParams::default(), &Progress::new())
            .expect("baseline");
        let q = quantify(&volume.geometry, &found.labels).expect("quantify");
        let p = grade(&q);
        eprintln!("{name}: {q:?}\n{name}: {}", p.explanation);
        assert!((2000.0..9000.0).contains(&q.lung_ml), "{name}: lungs {:.0} mL", q.lung_ml);
        for (side, stats) in [("right", q.right), ("left", q.left)] {
            assert!(stats.lung_ml > 700.0, "{name}: {side} lung {:.0} mL", stats.lung_ml);
        }
    }
}
