//! Times the lossless JPEG decoder on one bit stream: `ljpeg_speed FILE.jpg`.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ljpeg_speed FILE.jpg");
        std::process::exit(2);
    };
    let data = std::fs::read(&path).unwrap_or_default();
    let mut out = vec![0u16; 512 * 512];
    match lungdesk_volume::lossless_jpeg::decode(&data, &mut out) {
        Ok(h) => println!("{h:?}"),
        Err(e) => println!("error: {e}"),
    }
    let t = std::time::Instant::now();
    for _ in 0..50 {
        let _ = lungdesk_volume::lossless_jpeg::decode(&data, &mut out);
    }
    let sum: i64 = out.iter().map(|&v| i64::from(v as i16)).sum();
    println!("{:?} per frame, sum as i16 {sum}", t.elapsed() / 50);
}
