//! Every size and time limit of the protocol, in one place.

/// Largest frame the host may write to the browser (Chrome's documented limit).
pub const MAX_FRAME_TO_BROWSER: usize = 1024 * 1024;

/// Largest frame the host accepts from the browser: a co-browsing snapshot
/// of a big page (a long log, a huge table) is one frame, and the extension
/// cannot pass a message larger than 64 MiB between its own contexts anyway.
pub const MAX_FRAME_FROM_BROWSER: usize = 64 * 1024 * 1024;

/// Raw bytes carried by one `chunk` frame. Base64 grows them by 4/3, which
/// keeps a chunk frame (payload plus envelope) well under [`MAX_FRAME_TO_BROWSER`].
pub const CHUNK_RAW_BYTES: usize = 700 * 1024;

/// Largest message the host will split into chunks; beyond it the host refuses
/// with `payload_too_large` instead of flooding the browser.
pub const MAX_CHUNKED_MESSAGE: usize = 64 * 1024 * 1024;

/// Largest JSON body the server accepts on its HTTP API (and the largest
/// registration answer a host reads).
pub const MAX_HTTP_BODY: usize = 16 * 1024 * 1024;

/// Largest API answer a host reads. Pulls are not paged: an account's whole
/// delta (every device's tabs and pages, records up to [`MAX_RECORD_BODY`])
/// comes in one answer, so this is far above a request's limit; it only
/// keeps a server that sends without end from exhausting memory.
pub const MAX_HTTP_REPLY: usize = 128 * 1024 * 1024;

/// Largest answer to `/v1/status` a host (or `doctor`) reads: a status
/// reply is a few dozen bytes, and the URL may point at anything.
pub const MAX_STATUS_BODY: usize = 64 * 1024;

/// Longest device name accepted anywhere.
pub const MAX_DEVICE_NAME: usize = 100;

/// Longest tab title (characters) a host stores and syncs; longer ones are cut.
pub const MAX_TAB_TITLE: usize = 1_024;

/// Longest favicon URL a host syncs; longer ones (large `data:` icons) are dropped.
pub const MAX_FAVICON_URL: usize = 8 * 1024;

/// Longest tab or history URL a host syncs; a tab showing a longer one (a
/// huge `data:` URL) is left out of sync.
pub const MAX_TAB_URL: usize = 32 * 1024;

/// Tab history entries kept per tab (oldest dropped first).
pub const MAX_HISTORY_ENTRIES: usize = 50;

/// Characters of text kept for a scroll anchor.
pub const MAX_ANCHOR_TEXT: usize = 80;

/// Form fields captured per page, and characters kept per field value.
pub const MAX_FIELDS_PER_PAGE: usize = 500;
pub const MAX_FIELD_VALUE: usize = 64 * 1024;

/// The extension waits this long after the last change before capturing, so
/// a fast typist or a burst of tab events sends one update.
pub const CAPTURE_DEBOUNCE_MS: u32 = 400;

/// Hosts poll this often as a fallback when push is unavailable.
pub const SYNC_POLL_MS: u64 = 60_000;

/// Records per upload request (larger batches are split).
pub const MAX_UPLOAD_CHANGES: usize = 1_000;

/// Change-log entries the server keeps per collection; older readers reconcile.
pub const CHANGE_LOG_ENTRIES: usize = 10_000;

/// Longest record id (characters) the server accepts in an upload.
pub const MAX_RECORD_ID: usize = 128;

/// Longest record body the server accepts: the base64 text of the ciphertext.
/// Hosts also keep an upload request under [`MAX_HTTP_BODY`] by splitting it.
pub const MAX_RECORD_BODY: usize = 512 * 1024;

/// Longest sent-tab body (base64 text of the ciphertext).
pub const MAX_SENT_TAB_BODY: usize = 64 * 1024;

/// Longest wrapped account key accepted when completing a pairing (base64 text).
pub const MAX_WRAPPED_KEY: usize = 1024;

/// A sent tab not yet delivered is dropped this long after it was sent.
pub const SENT_TAB_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Tabs sent to one device that the server keeps (within
/// [`SENT_TAB_TTL_MS`]), and their bytes; more are refused until older ones
/// expire. Far beyond a person's use, a bound on what one device can be sent.
pub const MAX_SENT_TABS_PER_TARGET: u32 = 1_000;
pub const MAX_SENT_TAB_BYTES_PER_TARGET: usize = 16 * 1024 * 1024;

/// A pairing code is valid this long after it is shown.
pub const PAIRING_TTL_MS: i64 = 10 * 60 * 1000;

/// Failed pairing claims allowed per client per minute, and per code in all.
pub const PAIRING_GUESSES_PER_CLIENT_PER_MINUTE: u32 = 10;
pub const PAIRING_GUESSES_PER_CODE: u32 = 5;

/// A co-browsing code is valid this long, once.
pub const COBROWSE_CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// Once an operator joined, the visitor has this long to approve; a session
/// still awaiting consent then ends (`AuditEvent::ConsentExpired`).
pub const COBROWSE_CONSENT_TTL_MS: i64 = 10 * 60 * 1000;

/// An active session one side has stayed disconnected from this long ends
/// (`AuditEvent::Abandoned`): a browser gone for good does not leave the
/// other side waiting, and a network blip or a server restart is shorter.
pub const COBROWSE_AWAY_TTL_MS: i64 = 2 * 60 * 1000;

/// Failed co-browsing joins allowed per client per minute, and per code.
pub const COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE: u32 = 10;
pub const COBROWSE_GUESSES_PER_CODE: u32 = 5;

/// Largest audit event (its JSON) a client may append: audit entries are
/// metadata, never page content.
pub const MAX_AUDIT_EVENT: usize = 2 * 1024;

/// Levels of nodes one co-browsing frame nests. JSON readers refuse text
/// nested deeper than 128 levels (serde_json, so the hosts and the
/// extension), and a node level takes two (the node and its list of
/// children); what lies deeper in a page travels as additions after the
/// frame (`cobrowse::into_pieces`).
pub const MAX_NODE_NESTING: usize = 40;

/// About the bytes of JSON one co-browsing frame from the page carries:
/// what is more (a snapshot of a long log, a page full of inline images)
/// travels as more frames (`cobrowse::into_pieces`). Deflated and sealed,
/// even text that does not compress stays far under [`MAX_RELAY_MESSAGE`],
/// and a frame this size holds the relay for milliseconds, not seconds, so
/// pointer and input frames keep going between the pieces. Only one node
/// or asset heavier than this alone makes a larger frame.
pub const FRAME_BUDGET: usize = 4 * 1024 * 1024;

/// Largest relay message (one encrypted frame) the server forwards.
pub const MAX_RELAY_MESSAGE: usize = 16 * 1024 * 1024;

/// A relay socket whose peer has not taken one message for this long (it
/// stopped reading) is closed, and that side counts as away: a stalled peer
/// must not hold the frames queued for it for longer.
pub const RELAY_SEND_TIMEOUT_MS: i64 = 30_000;

/// Recorded bytes (the frames' ciphertext text) the server stores per
/// session; beyond it recording stops for that session
/// (`AuditEvent::RecordingLimitReached`) and the live session goes on.
pub const MAX_RECORDING_BYTES: u64 = 256 * 1024 * 1024;

/// Frames in one page of a recording: the default, and the most a client
/// may ask for.
pub const RECORDING_PAGE_FRAMES: u32 = 1_000;

/// Ciphertext bytes in one page of a recording; a page holds at least one
/// frame even if that frame alone is larger.
pub const RECORDING_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Decrypted frames (as JSON) per answer to a replay request: well under
/// [`MAX_CHUNKED_MESSAGE`], since stored frames are deflated and a page of
/// them can open to many times its size.
pub const REPLAY_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Frames a host queues for the relay while it reconnects; beyond this the
/// oldest incremental frames are dropped and the console asks for a keyframe.
pub const RELAY_QUEUE_FRAMES: usize = 10_000;
/// Bytes a host queues for the relay while it reconnects, dropped by the same
/// rule as [`RELAY_QUEUE_FRAMES`]: a few keyframes of a large page (each at
/// most [`MAX_RELAY_MESSAGE`]) and their mutations.
pub const RELAY_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// An operator's session with no console page showing it for this long
/// ends: the operator closed the console. A reload comes back well within it.
pub const CONSOLE_GONE_MS: u32 = 15_000;

/// A remote-control command the visitor's page has not answered in this
/// long is reported to the operator as perhaps lost (commands are frames: a
/// dropped connection can lose them, and they are not sent again).
pub const COMMAND_ANSWER_MS: u32 = 10_000;

/// Longest URL the console's mirror keeps (Chrome's own limit on URLs);
/// a longer one, inline `data:` images included, is refused like an
/// unsafe one.
pub const MAX_MIRROR_URL: usize = 2 * 1024 * 1024;

/// Bytes one frame's relative URLs may draw from resolving against the
/// visitor's page URL in the console's mirror (each draws the page URL's
/// length): a 100-byte address resolves 300,000 of them per frame, a
/// pathological 2 MiB one sixteen.
pub const MAX_MIRROR_RESOLVED_BYTES: usize = 32 * 1024 * 1024;

/// Bytes of asset data one frame may put into the console's mirror: the
/// `baton-asset:` references of one snapshot or batch, and the stylesheets
/// made from assets that it (or an `Assets` frame) sets. An asset is sent
/// once however often it is named, so beyond this what is named more is
/// shown as if the asset were missing, not copied again.
pub const MAX_MIRROR_ASSET_BYTES: usize = 32 * 1024 * 1024;

/// Distinct stylesheets (asset hashes) one `<style>`, or one element's
/// adopted sheets, shows in the mirror; beyond it the earliest are left out.
pub const MAX_MIRROR_SHEETS: usize = 1_000;

/// Largest `<canvas>` (in pixels) whose picture the visitor's page sends;
/// a larger one shows blank in the console.
pub const MAX_CANVAS_PIXELS: u64 = 16 * 1024 * 1024;
/// A canvas picture at least this long as a PNG `data:` URL goes as WebP
/// instead (photos and gradients; charts stay sharp PNGs).
pub const CANVAS_PNG_MAX: usize = 1024 * 1024;
/// Main-thread time the visitor's page spends encoding canvas pictures
/// right after a snapshot, and in each style poll after that (a second
/// apart): past it, the other canvases wait for the next poll.
pub const CANVAS_SNAPSHOT_MS: f64 = 40.0;
pub const CANVAS_POLL_MS: f64 = 8.0;

/// The capture engine yields to the page after this much work in one task.
pub const CAPTURE_SLICE_MS: f64 = 8.0;

/// Pointer moves are coalesced to at most one frame per this interval.
pub const POINTER_COALESCE_MS: u32 = 30;

/// The server pings the push and relay sockets every 30 s; a host that hears
/// nothing on one for this long (three missed pings) counts the connection
/// dead (a laptop that slept, a NAT that forgot it) and reconnects.
pub const SERVER_SILENCE_MS: u64 = 90_000;

/// Reconnect backoff used by the extension (host) and the host (server), in ms.
pub const BACKOFF_INITIAL_MS: u32 = 500;
pub const BACKOFF_MAX_MS: u32 = 8_000;

/// Backoff for attempt `n` (0-based): doubles from the initial delay, capped.
pub fn backoff_ms(attempt: u32) -> u32 {
    BACKOFF_INITIAL_MS.saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX)).min(BACKOFF_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff_ms(0), 500);
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(3), 4000);
        assert_eq!(backoff_ms(4), BACKOFF_MAX_MS);
        assert_eq!(backoff_ms(u32::MAX), BACKOFF_MAX_MS);
    }

    #[test]
    fn chunk_frames_fit() {
        // base64 of CHUNK_RAW_BYTES plus a generous envelope.
        assert!(CHUNK_RAW_BYTES.div_ceil(3) * 4 + 512 < MAX_FRAME_TO_BROWSER);
    }
}
