//! Prefecture of a Japanese postal code, from its first three digits.
//!
//! Japan Post assigns the leading digits of postal codes by region; these ranges follow that
//! assignment. A few border prefixes hold towns of two prefectures (for example 618, mostly
//! Kyoto, also holds Shimamoto in Osaka); such a prefix is given to the prefecture that holds
//! most of it. Counts by prefecture are therefore exact for all but those border towns.

/// JIS X 0401 prefecture codes (index + 1) and their English and Japanese names.
pub const PREFECTURES: [(&str, &str); 47] = [
    ("Hokkaido", "北海道"),
    ("Aomori", "青森県"),
    ("Iwate", "岩手県"),
    ("Miyagi", "宮城県"),
    ("Akita", "秋田県"),
    ("Yamagata", "山形県"),
    ("Fukushima", "福島県"),
    ("Ibaraki", "茨城県"),
    ("Tochigi", "栃木県"),
    ("Gunma", "群馬県"),
    ("Saitama", "埼玉県"),
    ("Chiba", "千葉県"),
    ("Tokyo", "東京都"),
    ("Kanagawa", "神奈川県"),
    ("Niigata", "新潟県"),
    ("Toyama", "富山県"),
    ("Ishikawa", "石川県"),
    ("Fukui", "福井県"),
    ("Yamanashi", "山梨県"),
    ("Nagano", "長野県"),
    ("Gifu", "岐阜県"),
    ("Shizuoka", "静岡県"),
    ("Aichi", "愛知県"),
    ("Mie", "三重県"),
    ("Shiga", "滋賀県"),
    ("Kyoto", "京都府"),
    ("Osaka", "大阪府"),
    ("Hyogo", "兵庫県"),
    ("Nara", "奈良県"),
    ("Wakayama", "和歌山県"),
    ("Tottori", "鳥取県"),
    ("Shimane", "島根県"),
    ("Okayama", "岡山県"),
    ("Hiroshima", "広島県"),
    ("Yamaguchi", "山口県"),
    ("Tokushima", "徳島県"),
    ("Kagawa", "香川県"),
    ("Ehime", "愛媛県"),
    ("Kochi", "高知県"),
    ("Fukuoka", "福岡県"),
    ("Saga", "佐賀県"),
    ("Nagasaki", "長崎県"),
    ("Kumamoto", "熊本県"),
    ("Oita", "大分県"),
    ("Miyazaki", "宮崎県"),
    ("Kagoshima", "鹿児島県"),
    ("Okinawa", "沖縄県"),
];

/// (first prefix of the range, JIS code), sorted; a range runs to the next entry's start.
const RANGES: [(u16, u8); 50] = [
    (0, 1),    // 001–009 Hokkaido
    (10, 5),   // 010–019 Akita
    (20, 3),   // 020–029 Iwate
    (30, 2),   // 030–039 Aomori
    (40, 1),   // 040–099 Hokkaido
    (100, 13), // Tokyo
    (210, 14), // Kanagawa
    (260, 12), // Chiba
    (300, 8),  // Ibaraki
    (320, 9),  // Tochigi
    (330, 11), // Saitama
    (370, 10), // Gunma
    (380, 20), // Nagano
    (400, 19), // Yamanashi
    (410, 22), // Shizuoka
    (440, 23), // Aichi
    (500, 21), // Gifu
    (510, 24), // Mie
    (520, 25), // Shiga
    (530, 27), // Osaka
    (600, 26), // Kyoto
    (630, 29), // Nara
    (640, 30), // Wakayama
    (650, 28), // Hyogo
    (680, 31), // Tottori
    (690, 32), // Shimane
    (700, 33), // Okayama
    (720, 34), // Hiroshima
    (740, 35), // Yamaguchi
    (760, 37), // Kagawa
    (770, 36), // Tokushima
    (780, 39), // Kochi
    (790, 38), // Ehime
    (800, 40), // Fukuoka
    (840, 41), // Saga
    (850, 42), // Nagasaki
    (860, 43), // Kumamoto
    (870, 44), // Oita
    (880, 45), // Miyazaki
    (890, 46), // Kagoshima
    (900, 47), // Okinawa
    (910, 18), // Fukui
    (920, 17), // Ishikawa
    (930, 16), // Toyama
    (940, 15), // Niigata
    (960, 7),  // Fukushima
    (980, 4),  // Miyagi
    (990, 6),  // Yamagata
    (1000, 0), // end
    (1000, 0), // end (padding keeps the table's length explicit)
];

/// The JIS X 0401 code ("01"–"47") of the prefecture a postal code `NNN-NNNN` belongs to.
pub fn prefecture_of_postal_code(postal_code: &str) -> Option<&'static str> {
    const CODES: [&str; 48] = [
        "", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16", "17", "18",
        "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35", "36",
        "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47",
    ];
    let digits = postal_code.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u16 = digits.parse().ok()?;
    let i = RANGES.partition_point(|&(start, _)| start <= prefix).checked_sub(1)?;
    let code = RANGES[i].1;
    (code != 0).then(|| CODES[usize::from(code)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn university_hospitals_are_in_their_prefectures() {
        // Postal codes of university hospitals, one per region.
        let cases = [
            ("060-8648", "01", "Hokkaido"), // Hokkaido University Hospital, Sapporo
            ("036-8563", "02", "Aomori"),   // Hirosaki University Hospital
            ("980-8574", "04", "Miyagi"),   // Tohoku University Hospital, Sendai
            ("010-8543", "05", "Akita"),    // Akita University Hospital
            ("113-8655", "13", "Tokyo"),    // University of Tokyo Hospital
            ("236-0004", "14", "Kanagawa"), // Yokohama City University Hospital
            ("951-8520", "15", "Niigata"),  // Niigata University Medical and Dental Hospital
            ("466-8560", "23", "Aichi"),    // Nagoya University Hospital
            ("606-8507", "26", "Kyoto"),    // Kyoto University Hospital
            ("565-0871", "27", "Osaka"),    // Osaka University Hospital, Suita
            ("650-0017", "28", "Hyogo"),    // Kobe University Hospital
            ("812-8582", "40", "Fukuoka"),  // Kyushu University Hospital
            ("903-0215", "47", "Okinawa"),  // University of the Ryukyus Hospital
        ];
        for (postal, code, name) in cases {
            assert_eq!(prefecture_of_postal_code(postal), Some(code), "{postal}");
            let index: usize = code.parse().expect("code");
            assert_eq!(PREFECTURES[index - 1].0, name);
        }
        assert_eq!(prefecture_of_postal_code("x13-8655"), None);
        assert_eq!(prefecture_of_postal_code("1"), None);
    }
}
