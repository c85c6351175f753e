//! Decodes one file's first frame and prints its header and HU statistics.
//! `cargo run -p lungdesk-volume --example decode_one -- FILE`
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: decode_one FILE");
        std::process::exit(2);
    };
    match lungdesk_volume::decode::read_frame_hu(std::path::Path::new(&path), 0) {
        Ok((h, hu)) => {
            let min = hu.iter().min().copied().unwrap_or_default();
            let max = hu.iter().max().copied().unwrap_or_default();
            println!(
                "{} {}×{} bits {}/{} signed {} slope {} intercept {}",
                h.transfer_syntax_uid,
                h.cols,
                h.rows,
                h.bits_stored,
                h.bits_allocated,
                h.pixel_representation,
                h.rescale_slope,
                h.rescale_intercept
            );
            println!("HU {min} … {max}; first {:?}", &hu[..hu.len().min(8)]);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
