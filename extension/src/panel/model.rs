//! The panel's logic without a browser: ordering devices and windows,
//! searching tabs, and the wording of times, counts and errors. Plain Rust,
//! tested natively; the DOM code only reads what this computes.

use baton_shared::api::DeviceKind;
use baton_shared::native::{ErrorCode, SyncStatus};
use baton_shared::session::{DeliveryState, RemoteDevice, RemoteWindow, TabState};

/// Other devices' sessions, ordered for display, with a lowercase search
/// text per tab computed once so that filtering 5,000 tabs stays cheap.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Most recently seen first; windows most recently used first; tabs in index order.
    pub devices: Vec<RemoteDevice>,
    /// `haystacks[device][window][tab]`: title and URL, lowercased.
    haystacks: Vec<Vec<Vec<String>>>,
}

/// The tabs a search leaves visible, as indexes into the [`Catalog`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub devices: Vec<DeviceMatch>,
    pub matched_tabs: usize,
    pub total_tabs: usize,
    /// The search was not empty.
    pub filtered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMatch {
    pub device: usize,
    pub windows: Vec<WindowMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowMatch {
    pub window: usize,
    pub tabs: Vec<usize>,
}

impl Catalog {
    pub fn new(mut devices: Vec<RemoteDevice>) -> Catalog {
        devices.sort_by(|a, b| b.last_seen_ms.cmp(&a.last_seen_ms).then_with(|| a.name.cmp(&b.name)));
        for device in &mut devices {
            // Stable: the host's order breaks ties.
            device.windows.sort_by_key(|w| std::cmp::Reverse((window_last_used(w), w.focused)));
            for window in &mut device.windows {
                window.tabs.sort_by_key(|t| t.index);
            }
        }
        let haystacks =
            devices.iter().map(|d| d.windows.iter().map(|w| w.tabs.iter().map(haystack).collect()).collect()).collect();
        Catalog { devices, haystacks }
    }

    pub fn total_tabs(&self) -> usize {
        self.devices.iter().map(device_tab_count).sum()
    }

    pub fn device_index(&self, id: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.id == id)
    }

    /// Every tab whose title or URL contains all the words of `query`,
    /// ignoring case. Devices and windows without a match are left out.
    pub fn select(&self, query: &str) -> Selection {
        let query = query.to_lowercase();
        let words: Vec<&str> = query.split_whitespace().collect();
        let mut selection =
            Selection { total_tabs: self.total_tabs(), filtered: !words.is_empty(), ..Default::default() };
        for (d, windows) in self.haystacks.iter().enumerate() {
            let mut device = DeviceMatch { device: d, windows: Vec::new() };
            for (w, tabs) in windows.iter().enumerate() {
                let hits: Vec<usize> = tabs
                    .iter()
                    .enumerate()
                    .filter(|(_, hay)| words.iter().all(|word| hay.contains(word)))
                    .map(|(t, _)| t)
                    .collect();
                if !hits.is_empty() || (words.is_empty() && tabs.is_empty()) {
                    selection.matched_tabs += hits.len();
                    device.windows.push(WindowMatch { window: w, tabs: hits });
                }
            }
            if !device.windows.is_empty() || words.is_empty() {
                selection.devices.push(device);
            }
        }
        selection
    }
}

fn haystack(tab: &TabState) -> String {
    let mut s = String::with_capacity(tab.title.len() + tab.url.len() + 1);
    s.push_str(&tab.title.to_lowercase());
    s.push('\n');
    s.push_str(&tab.url.to_lowercase());
    s
}

/// When a window was last used: its most recently active tab.
pub fn window_last_used(window: &RemoteWindow) -> i64 {
    window.tabs.iter().map(|t| t.last_accessed_ms).max().unwrap_or(0)
}

pub fn device_tab_count(device: &RemoteDevice) -> usize {
    device.windows.iter().map(|w| w.tabs.len()).sum()
}

/// "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", …
/// A time in the future (clock skew between devices) reads as "just now".
pub fn relative_time(then_ms: i64, now_ms: i64) -> String {
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let ago = now_ms.saturating_sub(then_ms);
    match ago {
        i64::MIN..=44_999 => "just now".to_owned(),
        45_000..=3_569_999 => format!("{} min ago", ((ago + MIN / 2) / MIN).max(1)),
        3_570_000..=86_399_999 => format!("{} h ago", ((ago + HOUR / 2) / HOUR).clamp(1, 23)),
        _ if ago < 2 * DAY => "yesterday".to_owned(),
        _ if ago < 60 * DAY => format!("{} days ago", ago / DAY),
        _ if ago < 730 * DAY => format!("{} months ago", ago / (30 * DAY)),
        _ => format!("{} years ago", ago / (365 * DAY)),
    }
}

/// A favicon URL safe to put in `<img src>`: http(s) or an inline image.
/// Anything else (javascript:, chrome:, file:, other data:) is dropped.
pub fn safe_favicon(url: Option<&str>) -> Option<&str> {
    /// Inline icons beyond this are not worth the memory of 5,000 rows.
    const MAX_DATA_URL: usize = 64 * 1024;
    let url = url?.trim();
    let lower = |n: usize| url.get(..n).map(str::to_ascii_lowercase).unwrap_or_default();
    if lower(8) == "https://" || lower(7) == "http://" {
        return (url.len() > 8 && !url.contains(char::is_whitespace)).then_some(url);
    }
    (lower(11) == "data:image/" && url.len() <= MAX_DATA_URL).then_some(url)
}

/// The part of a URL worth showing under a title: the host for web pages,
/// the scheme and path start otherwise.
pub fn display_host(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return truncate_chars(url, 60);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.strip_prefix("www.").unwrap_or(host);
    if host.is_empty() {
        truncate_chars(url, 60)
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The title to show for a tab: its title, or its URL when it has none.
pub fn tab_label(tab: &TabState) -> &str {
    if tab.title.trim().is_empty() {
        &tab.url
    } else {
        &tab.title
    }
}

/// The first letter of the host, for a tab without a usable favicon.
pub fn favicon_letter(url: &str) -> String {
    display_host(url)
        .chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "•".to_owned())
}

pub fn kind_label(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Desktop => "Desktop",
        DeviceKind::Laptop => "Laptop",
        DeviceKind::Tablet => "Tablet",
        DeviceKind::Phone => "Phone",
        DeviceKind::Other => "Device",
    }
}

/// `1,234`
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 tab`, `5,000 tabs`
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The line under the search box: how much of the list is shown.
pub fn result_line(selection: &Selection, query: &str) -> String {
    let devices = selection.devices.len();
    if selection.filtered {
        format!(
            "{} of {} match “{}”",
            thousands(selection.matched_tabs),
            count(selection.total_tabs, "tab", "tabs"),
            query.trim()
        )
    } else {
        format!("{} on {}", count(selection.total_tabs, "tab", "tabs"), count(devices, "device", "devices"))
    }
}

/// The header's sync line: a `data-state` value and a sentence.
pub fn sync_line(sync: &SyncStatus, now_ms: i64) -> (&'static str, String) {
    let last = sync.last_sync_ms.map(|t| relative_time(t, now_ms));
    if let Some(error) = &sync.error {
        let waiting = match sync.pending_changes {
            0 => String::new(),
            n => format!(" · {} waiting", count(n as usize, "change", "changes")),
        };
        let last = last.map(|l| format!(" · last synced {l}")).unwrap_or_default();
        return ("failed", format!("Sync is failing, retrying: {}{waiting}{last}", error.trim()));
    }
    match (sync.pending_changes, last) {
        (0, Some(last)) => ("synced", format!("Synced {last}")),
        (0, None) => ("never", "Not synced yet".to_owned()),
        (n, Some(last)) => {
            ("pending", format!("{} waiting · last synced {last}", count(n as usize, "change", "changes")))
        }
        (n, None) => ("pending", format!("{} waiting to sync", count(n as usize, "change", "changes"))),
    }
}

/// What to tell the user when pairing failed. The host's own message is
/// kept when it adds something the code alone does not say.
pub fn pairing_error_text(code: Option<ErrorCode>, message: &str) -> String {
    let lead = match code {
        Some(ErrorCode::PairingFailed) => {
            "That code did not work: it is wrong, already used or expired. Choose “Add a device” on your other device for a new code."
        }
        Some(ErrorCode::RateLimited) => "Too many attempts. Wait a minute, then try again.",
        Some(ErrorCode::Offline | ErrorCode::ServerUnreachable) => {
            "The Baton server cannot be reached right now, so pairing is not possible. Try again once it is connected."
        }
        Some(ErrorCode::InvalidRequest) => "That does not look like a pairing code. Check it and try again.",
        _ => return format!("Pairing failed: {}", message.trim()),
    };
    let detail = message.trim();
    if detail.is_empty() {
        lead.to_owned()
    } else {
        format!("{lead} ({detail})")
    }
}

/// `m:ss` left before a pairing code expires; `None` once it has.
pub fn countdown(expires_ms: i64, now_ms: i64) -> Option<String> {
    let left = expires_ms.checked_sub(now_ms).filter(|ms| *ms > 0)?;
    let secs = (left + 999) / 1000;
    Some(format!("{}:{:02}", secs / 60, secs % 60))
}

/// The send status: a `data-state` value and a sentence.
pub fn delivery_line(state: DeliveryState, device: &str) -> (&'static str, String) {
    match state {
        DeliveryState::Sent => ("sent", format!("Sent to {device}. It opens there when {device} is online.")),
        DeliveryState::Delivered => ("delivered", format!("Delivered to {device}.")),
        DeliveryState::Opened => ("opened", format!("Opened on {device}.")),
    }
}

/// A browser tab as `chrome.tabs.query` describes it, for choosing what to send.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct BrowserTab {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default, rename = "lastAccessed")]
    pub last_accessed: Option<f64>,
}

/// Whether a URL can be opened on another device (web pages only).
pub fn is_sendable(url: &str) -> bool {
    let lower = url.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    lower.starts_with("http://") || lower == "https://"
}

/// The tab "Send this tab" means: the window's active tab, or, when that is
/// one of Baton's own pages (the panel opened as a tab), the most recently
/// used web page in the window.
pub fn tab_to_send(tabs: &[BrowserTab]) -> Option<&BrowserTab> {
    let sendable = |t: &&BrowserTab| t.url.as_deref().is_some_and(is_sendable);
    tabs.iter().filter(|t| t.active).find(sendable).or_else(|| {
        tabs.iter()
            .filter(sendable)
            .max_by(|a, b| a.last_accessed.unwrap_or(0.0).total_cmp(&b.last_accessed.unwrap_or(0.0)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(id: i64, index: u32, title: &str, url: &str, last: i64) -> TabState {
        TabState {
            id,
            window_id: 0,
            index,
            url: url.into(),
            title: title.into(),
            fav_icon_url: None,
            pinned: false,
            active: false,
            last_accessed_ms: last,
            group: None,
        }
    }

    fn device(id: &str, seen: i64, windows: Vec<RemoteWindow>) -> RemoteDevice {
        RemoteDevice { id: id.into(), name: id.to_uppercase(), kind: DeviceKind::Laptop, last_seen_ms: seen, windows }
    }

    fn window(id: i64, tabs: Vec<TabState>) -> RemoteWindow {
        RemoteWindow { id, focused: false, tabs }
    }

    fn sample() -> Catalog {
        Catalog::new(vec![
            device("old", 10, vec![window(1, vec![tab(1, 0, "Rust Book", "https://doc.rust-lang.org/book/", 5)])]),
            device(
                "new",
                20,
                vec![
                    window(
                        7,
                        vec![tab(2, 1, "Second", "https://b.example/", 1), tab(3, 0, "First", "https://a.example/", 2)],
                    ),
                    window(8, vec![tab(4, 0, "Recent RUST news", "https://news.example/rust", 9)]),
                ],
            ),
        ])
    }

    #[test]
    fn orders_devices_windows_and_tabs() {
        let c = sample();
        let ids: Vec<&str> = c.devices.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["new", "old"]);
        let windows: Vec<i64> = c.devices[0].windows.iter().map(|w| w.id).collect();
        assert_eq!(windows, [8, 7], "most recently used window first");
        let tabs: Vec<i64> = c.devices[0].windows[1].tabs.iter().map(|t| t.id).collect();
        assert_eq!(tabs, [3, 2], "tabs in index order");
        assert_eq!(c.total_tabs(), 4);
        assert_eq!(c.device_index("old"), Some(1));
    }

    #[test]
    fn search_matches_title_and_url_ignoring_case() {
        let c = sample();
        let all = c.select("   ");
        assert!(!all.filtered);
        assert_eq!((all.matched_tabs, all.devices.len()), (4, 2));

        let rust = c.select("RuSt");
        assert_eq!(rust.matched_tabs, 2, "title on one, URL on the other");
        assert_eq!(rust.devices.len(), 2);
        assert_eq!(rust.devices[0].windows, vec![WindowMatch { window: 0, tabs: vec![0] }]);

        let both_words = c.select("rust news");
        assert_eq!(both_words.matched_tabs, 1);
        let url_only = c.select("a.example");
        assert_eq!(url_only.devices[0].windows, vec![WindowMatch { window: 1, tabs: vec![0] }]);
        let none = c.select("zzz");
        assert_eq!((none.matched_tabs, none.devices.len(), none.total_tabs), (0, 0, 4));
        assert_eq!(result_line(&none, " zzz "), "0 of 4 tabs match “zzz”");
        assert_eq!(result_line(&all, ""), "4 tabs on 2 devices");
    }

    #[test]
    fn search_over_five_thousand_tabs_drops_nothing() {
        let devices = (0..2)
            .map(|d| {
                let windows = (0..25)
                    .map(|w| {
                        let tabs = (0..100)
                            .map(|t| {
                                let n = (d * 25 + w) * 100 + t;
                                tab(
                                    n,
                                    t as u32,
                                    &format!("Page number {n} about things"),
                                    &format!("https://site{}.example/p/{n}", n % 97),
                                    n,
                                )
                            })
                            .collect();
                        window(w, tabs)
                    })
                    .collect();
                device(&format!("d{d}"), d, windows)
            })
            .collect();
        let c = Catalog::new(devices);
        assert_eq!(c.total_tabs(), 5_000);
        let s = c.select("site42");
        let all = c.select("");
        assert_eq!(all.matched_tabs, 5_000, "nothing is dropped");
        // Hosts run site0 to site96: only site42 itself contains "site42".
        assert_eq!(s.matched_tabs, (0..5_000).filter(|n| n % 97 == 42).count());
    }

    #[test]
    fn relative_times() {
        let now = 1_000_000_000_000;
        let cases = [
            (now + 5_000, "just now"),
            (now - 10_000, "just now"),
            (now - 50_000, "1 min ago"),
            (now - 5 * 60_000, "5 min ago"),
            (now - 3 * 3_600_000, "3 h ago"),
            (now - 30 * 3_600_000, "yesterday"),
            (now - 4 * 86_400_000, "4 days ago"),
            (now - 90 * 86_400_000, "3 months ago"),
            (now - 800 * 86_400_000, "2 years ago"),
        ];
        for (then, want) in cases {
            assert_eq!(relative_time(then, now), want, "{}", now - then);
        }
    }

    #[test]
    fn favicons_are_web_or_inline_images_only() {
        assert_eq!(safe_favicon(Some("https://a.example/f.ico")), Some("https://a.example/f.ico"));
        assert_eq!(safe_favicon(Some("HTTP://a.example/f.ico")), Some("HTTP://a.example/f.ico"));
        assert!(safe_favicon(Some("data:image/png;base64,AAAA")).is_some());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>",
            "chrome://favicon/x",
            "file:///etc/passwd",
            "https://",
            "https://a b",
            "",
        ] {
            assert_eq!(safe_favicon(Some(bad)), None, "{bad}");
        }
        assert_eq!(safe_favicon(None), None);
        let huge = format!("data:image/png;base64,{}", "A".repeat(70_000));
        assert_eq!(safe_favicon(Some(&huge)), None);
    }

    #[test]
    fn hosts_and_labels() {
        assert_eq!(display_host("https://www.example.com/a?b#c"), "example.com");
        assert_eq!(display_host("http://user:pw@host.example:8080/x"), "host.example:8080");
        assert_eq!(display_host("ftp://files.example/x"), "ftp://files.example");
        assert_eq!(display_host("about:blank"), "about:blank");
        assert_eq!(favicon_letter("https://www.github.com/"), "G");
        assert_eq!(favicon_letter(""), "•");
        let untitled = tab(1, 0, "  ", "https://x.example/", 0);
        assert_eq!(tab_label(&untitled), "https://x.example/");
        assert_eq!(thousands(5000), "5,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(count(1, "tab", "tabs"), "1 tab");
        assert_eq!(kind_label(DeviceKind::Other), "Device");
    }

    #[test]
    fn sync_lines() {
        let now = 10 * 60_000;
        let synced =
            SyncStatus { pending_changes: 0, last_sync_ms: Some(now - 120_000), other_devices: 1, error: None };
        assert_eq!(sync_line(&synced, now), ("synced", "Synced 2 min ago".to_owned()));
        let pending = SyncStatus { pending_changes: 3, ..synced.clone() };
        assert_eq!(sync_line(&pending, now).0, "pending");
        assert!(sync_line(&pending, now).1.starts_with("3 changes waiting"));
        assert_eq!(sync_line(&SyncStatus::default(), now).0, "never");
        let failing = SyncStatus { error: Some("the server answered HTTP 507".into()), ..pending };
        assert_eq!(
            sync_line(&failing, now),
            (
                "failed",
                "Sync is failing, retrying: the server answered HTTP 507 · 3 changes waiting · last synced 2 min ago"
                    .to_owned()
            )
        );
    }

    #[test]
    fn pairing_wording() {
        let wrong = pairing_error_text(Some(ErrorCode::PairingFailed), "code expired");
        assert!(wrong.contains("wrong, already used or expired") && wrong.ends_with("(code expired)"), "{wrong}");
        assert!(pairing_error_text(Some(ErrorCode::RateLimited), "").starts_with("Too many attempts"));
        assert_eq!(pairing_error_text(Some(ErrorCode::Internal), " boom "), "Pairing failed: boom");
        assert_eq!(countdown(10_000, 0).as_deref(), Some("0:10"));
        assert_eq!(countdown(600_000, 1).as_deref(), Some("10:00"));
        assert_eq!(countdown(1_000, 1_000), None);
    }

    #[test]
    fn delivery_wording() {
        assert_eq!(delivery_line(DeliveryState::Opened, "Desk").0, "opened");
        assert_eq!(delivery_line(DeliveryState::Delivered, "Desk").1, "Delivered to Desk.");
    }

    #[test]
    fn chooses_the_tab_to_send() {
        let t = |url: &str, active: bool, last: f64| BrowserTab {
            url: Some(url.into()),
            title: Some(url.into()),
            active,
            last_accessed: Some(last),
        };
        let tabs = [t("https://a.example/", false, 5.0), t("https://b.example/", true, 1.0)];
        assert_eq!(tab_to_send(&tabs).and_then(|t| t.url.as_deref()), Some("https://b.example/"));
        let panel_active = [
            t("https://a.example/", false, 5.0),
            t("chrome-extension://x/panel.html", true, 9.0),
            t("https://c.example/", false, 7.0),
        ];
        assert_eq!(tab_to_send(&panel_active).and_then(|t| t.url.as_deref()), Some("https://c.example/"));
        assert_eq!(tab_to_send(&[t("chrome://settings", true, 1.0)]), None);
        let parsed: Vec<BrowserTab> = serde_json::from_str(
            r#"[{"url":"https://x.example/","title":"X","active":true,"lastAccessed":1.5,"id":3}]"#,
        )
        .unwrap();
        assert_eq!(parsed[0].last_accessed, Some(1.5));
    }
}
