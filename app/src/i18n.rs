//! English and Japanese UI text, switchable at run time.
//!
//! The English text is the key: `tr(lang, "Worklist")`. Every key has a Japanese entry in
//! [`JA`]; a test reads the sources for every `tr`/`trf` call and every label list and fails
//! on any key without one, and another renders each Japanese entry's glyphs with the bundled
//! font. `trf` fills `{name}` placeholders after translating.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }
    /// The language's own name.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ja => "日本語",
        }
    }
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::Ja,
            Lang::Ja => Lang::En,
        }
    }
}

/// `en` in `lang`. A key with no Japanese entry shows in English and is remembered in
/// [`missing_keys`] (tests render every screen in Japanese and require it empty).
pub fn tr(lang: Lang, en: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Ja => japanese(en).unwrap_or_else(|| {
            if let Ok(mut missing) = MISSING.lock() {
                missing.insert(en);
            }
            en
        }),
    }
}

static MISSING: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Keys asked for in Japanese that have no Japanese entry, so far in this process.
pub fn missing_keys() -> Vec<&'static str> {
    MISSING.lock().map(|m| m.iter().copied().collect()).unwrap_or_default()
}

/// `en` in `lang`, with `{name}` placeholders filled.
pub fn trf(lang: Lang, en: &'static str, args: &[(&str, &dyn Display)]) -> String {
    let mut s = tr(lang, en).to_owned();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), &value.to_string());
    }
    s
}

/// The Japanese text of `en`, if the table has it.
pub fn japanese(en: &str) -> Option<&'static str> {
    static MAP: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| JA.iter().copied().collect()).get(en).copied()
}

/// English → Japanese.
pub const JA: &[(&str, &str)] = &[
    // Viewer
    (
        "Open a DICOM folder: Ctrl+O, drop it here, or start with `lungdesk view FOLDER`.",
        "DICOM フォルダを開く: Ctrl+O、ここへドロップ、または `lungdesk view FOLDER` で起動。",
    ),
    ("Open folder… (Ctrl+O)", "フォルダを開く… (Ctrl+O)"),
    ("or type a folder path, Enter", "またはフォルダのパスを入力して Enter"),
    ("Lung (L)", "肺野 (L)"),
    ("Mediastinum (M)", "縦隔 (M)"),
    ("Bone (B)", "骨 (B)"),
    ("slab", "スラブ"),
    ("Thin (S)", "薄層 (S)"),
    ("MIP (S)", "MIP (S)"),
    ("MinIP (S)", "MinIP (S)"),
    ("Thin", "薄層"),
    ("thickness", "厚さ"),
    ("Overlay (O)", "オーバーレイ (O)"),
    ("lung", "肺"),
    ("consolidation", "浸潤影"),
    ("opacity", "不透明度"),
    ("outline (U)", "輪郭 (U)"),
    ("no segmentation yet", "セグメンテーションはまだありません"),
    (
        "F maximise · Up/Down or wheel: slice · Ctrl+wheel zoom · middle-drag pan · right-drag W/L",
        "F 最大化 · ↑↓/ホイール: スライス · Ctrl+ホイール 拡大 · 中ドラッグ 移動 · 右ドラッグ W/L",
    ),
    ("AI pre-read", "AI 事前読影"),
    ("Analysing…", "解析中…"),
    ("Cancel", "キャンセル"),
    ("Analyse (A)", "解析 (A)"),
    ("right", "右"),
    ("left", "左"),
    ("lung mL", "肺 mL"),
    ("consolidation mL", "浸潤影 mL"),
    ("consolidation %", "浸潤影 %"),
    ("bilateral", "両側性"),
    ("unilateral", "片側性"),
    ("no focus", "病巣なし"),
    (
        "foci {foci} · peripheral {peripheral} % · {side} · severity {severity}/30",
        "病変 {foci} 個 · 末梢 {peripheral} % · {side} · 重症度 {severity}/30",
    ),
    (
        "AI models not used; showing the HU baseline.",
        "AI モデルは使われていません。HU しきい値による基準法を表示しています。",
    ),
    (
        "Segmentation: {method}. A deterministic baseline, not a trained model; no real lesion ground truth behind it.",
        "セグメンテーション: {method}。学習済みモデルではない決定的な基準法で、実際の病変の正解データに基づくものではありません。",
    ),
    (
        "Segmentation: {models}. The lesion model learnt from 50 real CT slices labelled by a radiologist (MedSeg, 8-bit images mapped to estimated HU) and from SYNTHETIC lesions inserted into real CT; see the model cards for what it was and was not checked on.",
        "セグメンテーション: {models}。病変モデルは放射線科医がラベル付けした実際の CT 50 スライス (MedSeg、8 ビット画像を推定 HU に変換) と、実 CT に挿入した合成 (SYNTHETIC) 病変から学習しています。検証範囲はモデルカードを参照してください。",
    ),
    ("Grade: {method}.", "分類: {method}。"),
    (
        "rule set over quantified features (RSNA consensus, Simpson et al. 2020); not a trained classifier",
        "定量特徴に基づく規則 (RSNA コンセンサス, Simpson et al. 2020)。学習済み分類器ではありません",
    ),
    ("no opacity found ({opacity} % of {lung} mL lung, {ml} mL)", "陰影なし (肺 {lung} mL の {opacity} %、{ml} mL)"),
    ("one lung only (unilateral)", "片肺のみ (片側性)"),
    ("{percent} % of opacity in the outer third (peripheral)", "陰影の {percent} % が外側 1/3 (末梢性)"),
    ("{percent} % in the inner third (perihilar)", "{percent} % が内側 1/3 (肺門周囲)"),
    ("{foci} focus/foci, {ggo} of them ground glass", "病変 {foci} 個、うちすりガラス影 {ggo} 個"),
    (
        "ground glass {ggo} % and consolidation {cons} % of opacity ({opacity} % of lung)",
        "陰影のうちすりガラス影 {ggo} %・浸潤影 {cons} % (肺の {opacity} %)",
    ),
    (
        "isolated consolidation ({n} solid focus/foci) without ground glass",
        "すりガラス影を伴わない孤立性浸潤影 ({n} 個)",
    ),
    ("{n} discrete small nodules", "孤立性小結節 {n} 個"),
    ("{n} solid mass(es) of 3 cm or more", "3 cm 以上の充実性腫瘤 {n} 個"),
    ("diffuse: {zones} of 6 zones involved", "びまん性: 6 領域中 {zones} 領域"),
    ("typical features mixed with atypical ones", "典型的所見と非典型的所見が混在"),
    ("Cannot grade", "判定不能"),
    ("The AI did not segment this series.", "AI はこのシリーズをセグメンテーションしていません。"),
    ("a single slice cannot be graded", "単一スライスは判定できません"),
    ("too few slices to grade", "スライスが少なすぎて判定できません"),
    ("too little head-to-foot coverage to grade", "頭尾方向の撮影範囲が狭すぎて判定できません"),
    ("slices too thick to grade", "スライスが厚すぎて判定できません"),
    ("an oblique series cannot be read as axial", "斜位断のシリーズは軸位断として読めません"),
    ("not a chest CT", "胸部 CT ではありません"),
    ("no lung found: the AI cannot read this scan", "肺が検出されず、AI はこの検査を読めません"),
    ("the lung found is implausible", "検出された肺の大きさが不自然です"),
    ("(from this series' saved result)", "(このシリーズの保存済み結果)"),
    ("Reading {what}", "{what} を読み込み中"),
    ("Choosing a folder…", "フォルダを選択中…"),
    ("Could not open: {error}", "開けませんでした: {error}"),
    ("required", "必須です"),
    ("no control characters (a pasted tab or line break?)", "制御文字は使えません (タブや改行を貼り付けましたか?)"),
    ("too long: at most 64 bytes (21 Japanese characters)", "長すぎます: 64 バイト (日本語で 21 文字) までです"),
    ("7 digits and - only, e.g. 466-8560", "7 桁の数字と - のみです。例: 466-8560"),
    ("at most 100 characters", "100 文字までです"),
    ("at most 32 characters", "32 文字までです"),
    ("a space", "空白"),
    ("{what} is not allowed: letters A–Z, digits, - and _ only", "{what} は使えません: 英字、数字、- と _ のみ"),
    ("7 digits, e.g. 466-8560 (this has {n})", "7 桁です。例: 466-8560 (入力は {n} 桁)"),
    ("Not saved: correct the fields marked in red.", "保存していません: 赤字の項目を直してください。"),
    (
        "No folder dialog is available on this desktop (no XDG desktop portal): type the folder's path in the field and press Enter.",
        "このデスクトップではフォルダ選択ダイアログを使えません (XDG デスクトップポータルがありません): 欄にフォルダのパスを入力して Enter を押してください。",
    ),
    ("Could not read the images: {error}", "画像を読み込めませんでした: {error}"),
    ("Could not display the images: {error}", "画像を表示できませんでした: {error}"),
    (
        "The AI pre-read failed; the images are shown: {error}",
        "AI 事前読影に失敗しました (画像は表示しています): {error}",
    ),
    (
        "This folder holds several CT series; choose one",
        "このフォルダには複数の CT シリーズがあります。1 つ選んでください",
    ),
    // Grades, PCR, findings, statuses
    ("Typical", "典型的"),
    ("Indeterminate", "判定困難"),
    ("Atypical", "非典型的"),
    ("Negative for pneumonia", "肺炎所見なし"),
    ("PCR positive", "PCR 陽性"),
    ("PCR negative", "PCR 陰性"),
    ("PCR pending", "PCR 結果待ち"),
    ("PCR not tested", "PCR 未検査"),
    ("pos", "陽性"),
    ("neg", "陰性"),
    ("pending", "結果待ち"),
    ("not tested", "未検査"),
    ("Crazy-paving", "クレイジーペイビング"),
    ("Reversed halo", "逆ハローサイン"),
    ("Organizing pneumonia pattern", "器質化肺炎パターン"),
    ("Pleural effusion", "胸水"),
    ("Lymphadenopathy", "リンパ節腫大"),
    ("Tree-in-bud", "樹枝状陰影"),
    ("Cavitation", "空洞"),
    ("Mass", "腫瘤"),
    ("Axial", "軸位断"),
    ("axial", "軸位断"),
    ("coronal", "冠状断"),
    ("sagittal", "矢状断"),
    ("Coronal", "冠状断"),
    ("Sagittal", "矢状断"),
    ("Oblique", "斜位断"),
    ("Unknown plane", "断面不明"),
    ("{n} images", "{n} 枚"),
    ("Series", "シリーズ"),
    ("Folder: {folder}", "フォルダ: {folder}"),
    ("The AI read series {series}.", "AI はシリーズ {series} を読影しました。"),
    ("Emphysema", "肺気腫"),
    ("Fibrosis", "線維化"),
    ("Pulmonary oedema", "肺水腫"),
    ("New", "新規"),
    ("AI done", "AI 判定済"),
    ("In review", "読影中"),
    ("Confirmed", "確定"),
    ("Needs adjudication", "要裁定"),
    // Desk
    (
        "{missing} of {total} files of this case are gone (first: {first}); moved or deleted after import. Its labels are kept; import the folder again from its new place.",
        "この症例のファイル {total} 個中 {missing} 個が見つかりません (最初: {first})。取り込み後に移動または削除されています。ラベルは保持されています。新しい場所からフォルダを取り込み直してください。",
    ),
    ("The label store is not open.", "ラベルストアが開かれていません。"),
    ("An import is already running.", "取り込みはすでに実行中です。"),
    ("Import a DICOM folder", "DICOM フォルダを取り込む"),
    (
        "Set the grade (1–4) and the PCR status (P, N, W, X) before confirming.",
        "確定の前に分類 (1–4) と PCR 状態 (P, N, W, X) を設定してください。",
    ),
    (" That was the last case in the list.", " 一覧の最後の症例でした。"),
    (
        "Saved: case {key}, grade {grade}, {pcr} (revision {revision}).",
        "保存しました: 症例 {key}、分類 {grade}、{pcr} (版 {revision})。",
    ),
    ("Not saved: {error}", "保存できませんでした: {error}"),
    ("Exported {n} label(s) to {csv} and {json}", "{n} 件のラベルを {csv} と {json} に書き出しました"),
    ("Export failed: {error}", "書き出しに失敗しました: {error}"),
    ("Opening the label store…", "ラベルストアを開いています…"),
    ("The label store cannot be opened", "ラベルストアを開けません"),
    ("File: {path}. Nothing in it was changed.", "ファイル: {path}。内容は変更されていません。"),
    (
        "No cases yet. Import a DICOM folder: Ctrl+I, drop it here, or type its path above.",
        "症例がまだありません。DICOM フォルダを取り込んでください: Ctrl+I、ここへドロップ、または上にパスを入力。",
    ),
    (
        "Choose a case in the worklist, or press J for the first one.",
        "ワークリストから症例を選ぶか、J で最初の症例を開きます。",
    ),
    ("Reading the case…", "症例を読み込み中…"),
    ("Welcome to LungDesk", "LungDesk へようこそ"),
    (
        "Who is reading? This is kept in the label store's settings and goes with every label you confirm.",
        "読影者を設定してください。ラベルストアの設定に保存され、確定したすべてのラベルに記録されます。",
    ),
    ("Reader id", "読影者 ID"),
    ("Display name", "表示名"),
    ("Site code", "施設コード"),
    ("Facility postal code", "施設の郵便番号"),
    ("specialist number, e.g. R-0042", "専門医番号 (例: R-0042)"),
    ("e.g. 山田 花子", "例: 山田 花子"),
    ("letters, digits, - and _", "英数字、- と _"),
    ("7 digits, e.g. 466-8560", "7 桁 (例: 466-8560)"),
    ("Site key", "施設キー"),
    ("ldsk1-… from your site admin", "施設管理者から受け取った ldsk1-…"),
    ("New site key", "施設キーを新規作成"),
    (
        "Only for the first desk of a site: makes the key that every other desk of the site must then be given.",
        "施設で最初の端末でのみ使います。作成したキーを施設の他のすべての端末に渡してください。",
    ),
    (
        "fingerprint {fingerprint}: the same on every desk of the site",
        "指紋 {fingerprint}：施設のすべての端末で同じです",
    ),
    (
        "Keys the case keys, so that a study cannot be linked to its labels without it. Never sent.",
        "症例キーをこの鍵で作るため、鍵なしでは検査とラベルを結び付けられません。送信されません。",
    ),
    (
        "required: ldsk1- followed by 64 hex digits, as your site admin gave it",
        "必須：ldsk1- に続く16進数64桁（施設管理者から受け取ったとおり）",
    ),
    ("Language", "言語"),
    ("Save and start (Enter)", "保存して開始 (Enter)"),
    ("Import… (Ctrl+I)", "取り込み… (Ctrl+I)"),
    ("Export (Ctrl+E)", "書き出し (Ctrl+E)"),
    ("Keys (F1)", "キー (F1)"),
    ("Review (F3)", "読影 (F3)"),
    ("Disagreements (F4)", "不一致 (F4)"),
    // Cloud sync and surveillance
    ("Sync: not connected (F7)", "同期: 未接続 (F7)"),
    (
        "Sync: offline, {pending} waiting; retry in {retry} s ({error})",
        "同期: オフライン、{pending} 件待機中; {retry} 秒後に再試行 ({error})",
    ),
    (
        "Sync: {sent} sent, {pending} waiting, {conflicts} conflicts",
        "同期: 送信済み {sent} 件、待機 {pending} 件、競合 {conflicts} 件",
    ),
    ("Surveillance: daily CT-based pneumonia counts", "サーベイランス: CT による肺炎の日別件数"),
    ("Dataset service", "データセットサービス"),
    ("Service URL", "サービス URL"),
    ("Reader token", "読影者トークン"),
    ("Connect and sync", "接続して同期"),
    ("Radiologist-confirmed", "放射線科医確定"),
    ("AI only", "AI のみ"),
    ("By day", "日別"),
    ("By week", "週別"),
    ("Refresh (F7)", "更新 (F7)"),
    ("Sync now", "今すぐ同期"),
    ("suppressed (under {min}): at least", "秘匿 ({min} 未満): 以上"),
    ("sent", "送信済"),
    ("waiting", "待機"),
    ("conflict", "競合"),
    ("No counts fetched yet.", "件数はまだ取得していません。"),
    ("Counts unavailable: {error}", "件数を取得できません: {error}"),
    (
        "{total} cases counted; cells under {min} are suppressed ({n} here).",
        "{total} 例を集計; {min} 未満のセルは秘匿 (ここでは {n} 個)。",
    ),
    (
        "{total} confirmed, {ai} AI-only ({set}); cells under {min} are suppressed ({n} here).",
        "確定 {total} 例、AI のみ {ai} 例 ({set}); {min} 未満のセルは秘匿 (ここでは {n} 個)。",
    ),
    ("AI-only counts unavailable: {error}", "AI のみの件数を取得できません: {error}"),
    ("AI model set", "AI モデルセット"),
    ("AI pre-read off: {error}", "AI 事前読影は停止: {error}"),
    (
        "AI pre-read waiting for the local store ({error}); next try within {seconds} s",
        "AI 事前読影はローカル保存先を待機中 ({error}): {seconds} 秒以内に再試行します",
    ),
    ("AI read {read} of {total}", "AI 読影済み {read} / {total}"),
    ("AI pre-read: {left} left (paused while you work)", "AI 事前読影: 残り {left} 例 (作業中は一時停止)"),
    ("AI pre-read: {left} left", "AI 事前読影: 残り {left} 例"),
    ("AI pre-read of case {case} failed: {error}", "症例 {case} の AI 事前読影に失敗: {error}"),
    ("Compare", "比較"),
    ("every case", "全症例"),
    ("cases", "症例数"),
    ("withheld: {site}", "公表保留: {site}"),
    ("another site", "他施設"),
    ("another site ({prefecture})", "他施設 (都道府県 {prefecture})"),
    ("AI only ({set})", "AI のみ ({set})"),
    ("AI: cannot grade", "AI: 判定不能"),
    ("Agreement unavailable: {error}", "一致度を取得できません: {error}"),
    (
        "Agreement of {set} with the readers: Cohen's κ over the last {n} confirmed cases, 95 % interval; counts withheld under {floor}.",
        "{set} と読影者の一致度: 直近 {n} 確定例の Cohen の κ と 95 % 信頼区間; {floor} 未満で件数の公表を保留。",
    ),
    ("floor", "下限"),
    ("agreement measured, above the floor", "一致度は測定済みで下限以上"),
    ("now", "現在"),
    ("published", "公表"),
    ("unmeasured", "未測定"),
    ("withheld", "公表保留"),
    ("{reader}: grade {grade}, {pcr} (revision {revision})", "{reader}: グレード {grade}、{pcr} (版 {revision})"),
    ("Surveillance (F7)", "サーベイランス (F7)"),
    ("Sync", "同期"),
    ("Synced to the dataset service.", "データセットサービスに同期済み。"),
    ("Waiting to sync ({error}).", "同期待ち ({error})。"),
    ("Waiting to sync.", "同期待ち。"),
    ("Sync stopped: {error}", "同期を停止しました: {error}"),
    (
        "Not saved: this case could not be read ({error}); open it again.",
        "保存されていません: この症例を読み込めませんでした ({error})。開き直してください。",
    ),
    (
        "Sync conflict: {why}. Confirm again to send a new revision.",
        "同期の競合: {why}。もう一度確定すると新しい版を送信します。",
    ),
    (
        "Conflict: the service has your revision {theirs} (grade {grade}) from another desk; this desk has revision {ours}.",
        "競合: サービスには別の端末からのあなたの版 {theirs} (グレード {grade}) があり、この端末は版 {ours} です。",
    ),
    ("Other readers (from the service)", "他の読影者 (サービスから)"),
    (
        "Surveillance: counts from the dataset service (again: refresh)",
        "サーベイランス: データセットサービスの件数 (もう一度押すと更新)",
    ),
    ("Importing {what}", "{what} を取り込み中"),
    (
        "Export folder: CSV and JSON are written here (Enter exports)",
        "書き出し先フォルダ: CSV と JSON をここに書き出します (Enter で書き出し)",
    ),
    ("Worklist", "ワークリスト"),
    ("{done} of {total} done", "{total} 件中 {done} 件完了"),
    ("search (Ctrl+F): key, date, status, grade", "検索 (Ctrl+F): キー、日付、状態、分類"),
    ("All (F5)", "すべて (F5)"),
    ("Sort (F6):", "並べ替え (F6):"),
    ("{shown} shown", "{shown} 件表示"),
    ("Import order", "取り込み順"),
    ("Status", "状態"),
    ("Exam date", "検査日"),
    ("Age", "年齢"),
    ("AI grade", "AI 分類"),
    ("AI confidence", "AI 確信度"),
    ("Grade", "分類"),
    ("Age/sex", "年齢/性別"),
    ("AI", "AI"),
    ("PCR", "PCR"),
    ("Case {key}", "症例 {key}"),
    ("{age} y", "{age} 歳"),
    ("AI grade: {grade} {name}", "AI 分類: {grade} {name}"),
    ("RSNA grade (1–4)", "RSNA 分類 (1–4)"),
    ("PCR (P N W X)", "PCR (P N W X)"),
    ("Findings (Ctrl+1–7)", "所見 (Ctrl+1–7)"),
    ("Alternative diagnosis (Alt+1–4)", "他疾患を示す所見 (Alt+1–4)"),
    ("Note (I; Esc to leave)", "メモ (I、Esc で終了)"),
    (
        "kept in this site's store only; never exported or synced",
        "この施設のストアにのみ保存され、書き出しや同期はされません",
    ),
    ("Confirm and next (Enter)", "確定して次へ (Enter)"),
    ("Confirmed revision {revision}", "確定済み 版 {revision}"),
    (
        "Editing confirmed revision {revision}: Enter saves revision {next}.",
        "確定済みの版 {revision} を編集中: Enter で版 {next} として保存します。",
    ),
    ("History", "履歴"),
    ("grade", "分類"),
    ("findings", "所見"),
    ("note", "メモ"),
    ("other", "その他"),
    ("Disagreements", "不一致"),
    ("Reading the label store…", "ラベルストアを読み込み中…"),
    (
        "Reader grade differs from the AI: {a}. PCR contradicts the grade: {b}. Agreement: {agree} of {total} reviews with an AI result; {without} without.",
        "読影者と AI の分類が異なる: {a} 件。PCR と分類が矛盾: {b} 件。一致: AI 結果のある {total} 件中 {agree} 件。AI 結果なし {without} 件。",
    ),
    ("AI grade (rows) against reader grade (columns)", "AI 分類 (行) と読影者の分類 (列)"),
    ("Case", "症例"),
    ("Reader", "読影者"),
    ("Kind", "種類"),
    ("reader ≠ AI", "読影者 ≠ AI"),
    ("PCR vs grade", "PCR と分類"),
    ("Keyboard shortcuts", "キーボードショートカット"),
    (
        "Imported: {cases} new case(s), {series} new series, {already} already imported.",
        "取り込み: 新規症例 {cases} 件、新規シリーズ {series} 件、取り込み済み {already} 件。",
    ),
    ("Skipped {n} series that are not CT ({modalities}).", "CT ではないシリーズ {n} 件を除外しました ({modalities})。"),
    ("{n} file(s) are not CT images and were left out.", "CT 画像ではないファイル {n} 個を除外しました。"),
    // Shortcut sheet
    (
        "Grade: typical, indeterminate, atypical, negative for pneumonia",
        "分類: 典型的、判定困難、非典型的、肺炎所見なし",
    ),
    ("PCR: positive, negative, pending, not tested", "PCR: 陽性、陰性、結果待ち、未検査"),
    ("Toggle a finding (in the order listed)", "所見の切り替え (一覧の順)"),
    (
        "Toggle a finding of another diagnosis: mass, emphysema, fibrosis, pulmonary oedema",
        "他疾患の所見の切り替え: 腫瘤、肺気腫、線維化、肺水腫",
    ),
    ("Write in the note (Esc leaves it)", "メモを書く (Esc で終了)"),
    ("Confirm and open the next case", "確定して次の症例を開く"),
    ("Next / previous case without confirming", "確定せずに次 / 前の症例へ"),
    ("Search the worklist", "ワークリストを検索"),
    ("Cycle the status filter / the sort order", "状態フィルタ / 並べ替えを切り替え"),
    ("Review / disagreements", "読影 / 不一致"),
    ("Import a folder", "フォルダを取り込む"),
    ("Export labels (CSV and JSON)", "ラベルを書き出す (CSV と JSON)"),
    ("English / Japanese", "英語 / 日本語"),
    ("This sheet", "この一覧"),
    (
        "Previous / next slice in the view under the pointer (or the mouse wheel)",
        "ポインタ下のビューで前 / 次のスライス (マウスホイールでも)",
    ),
    ("Window: lung, mediastinum, bone", "ウィンドウ: 肺野、縦隔、骨"),
    ("Overlay on or off / outline", "オーバーレイ表示 / 輪郭"),
    ("Slab: thin, MIP, MinIP", "スラブ: 薄層、MIP、MinIP"),
    ("Maximise the view under the pointer", "ポインタ下のビューを最大化"),
    ("Run the AI pre-read again", "AI 事前読影をやり直す"),
    ("Close this sheet, leave a text field", "この一覧を閉じる、入力欄を離れる"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_survive_translation() {
        for (en, ja) in JA {
            let names = |s: &str| {
                let mut v: Vec<String> =
                    s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned())).collect();
                v.sort();
                v
            };
            assert_eq!(names(en), names(ja), "placeholders differ: {en}");
        }
        assert_eq!(trf(Lang::Ja, "{done} of {total} done", &[("done", &3), ("total", &10)]), "10 件中 3 件完了");
        assert_eq!(tr(Lang::En, "Worklist"), "Worklist");
    }

    /// Every literal key passed to `tr`/`trf` in the UI sources has a Japanese entry.
    #[test]
    fn every_literal_key_in_the_sources_is_translated() {
        let mut missing = Vec::new();
        let mut found = 0;
        for source in [
            include_str!("desk/mod.rs"),
            include_str!("desk/model.rs"),
            include_str!("desk/events.rs"),
            include_str!("desk/identity.rs"),
            include_str!("desk/keymap.rs"),
            include_str!("desk/workers.rs"),
            include_str!("desk/panels/top_bar.rs"),
            include_str!("desk/panels/worklist.rs"),
            include_str!("desk/panels/review.rs"),
            include_str!("desk/panels/disagreements.rs"),
            include_str!("desk/panels/shortcuts.rs"),
            include_str!("desk/worklist_query.rs"),
            include_str!("viewer/mod.rs"),
            include_str!("viewer/loader.rs"),
            include_str!("viewer/analysis.rs"),
            include_str!("viewer/panels/toolbar.rs"),
            include_str!("viewer/panels/ai_panel.rs"),
            include_str!("viewer/panels/series_picker.rs"),
            include_str!("viewer/panels/slice_view.rs"),
            include_str!("ai_text.rs"),
            include_str!("cloud_ui.rs"),
        ] {
            let calls = source.match_indices("tr(").chain(source.match_indices("trf("));
            for (at, call) in calls {
                // `tr(lang, "key"` or `trf(\n lang,\n "key"`: the language, a comma, a literal.
                let args = &source[at + call.len()..];
                let Some((lang, after)) = args.split_once(',') else { continue };
                if !lang.trim().chars().all(|c| c.is_alphanumeric() || c == '.' || c == '_') {
                    continue;
                }
                let Some(literal) = after.trim_start().strip_prefix('"') else { continue };
                let Some(end) = literal.find('"') else { continue };
                let key = &literal[..end];
                found += 1;
                if japanese(key).is_none() {
                    missing.push(key.to_owned());
                }
            }
        }
        assert!(found > 90, "the scan found only {found} keys");
        assert!(missing.is_empty(), "no Japanese for: {missing:#?}");
    }

    /// The names of grades, PCR states, findings and statuses, and the shortcut sheet.
    #[test]
    fn domain_names_and_the_shortcut_sheet_are_translated() {
        use lungdesk_store::{CaseStatus, Finding, Grade, Pcr};
        let names = Grade::ALL
            .map(Grade::name)
            .into_iter()
            .chain(Pcr::ALL.map(Pcr::name))
            .chain(Finding::ALL.map(Finding::name))
            .chain(CaseStatus::ALL.map(CaseStatus::name))
            .chain(crate::desk::keymap::sheet().into_iter().map(|(_, what)| what))
            .chain([lungdesk_inference::grade::METHOD]);
        for name in names {
            assert!(japanese(name).is_some(), "no Japanese for {name}");
        }
    }

    #[test]
    fn no_key_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for (en, _) in JA {
            assert!(seen.insert(en), "listed twice: {en}");
        }
    }
}
