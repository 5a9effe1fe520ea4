//! Panics raised inside sled are damage it found in its files (a data file cut short makes its
//! recovery index out of bounds): the command reports them as an integrity failure, exit 3,
//! never as a crash with a backtrace (SPEC §9 faults).

/// The last panic raised inside sled, with where it was raised.
static STORAGE_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Panics raised inside sled are damage sled found in its files: they are kept for `main` to
/// report as an integrity failure instead of printed as a crash. Every other panic is a bug and
/// keeps the default report.
pub fn contain_storage_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location();
        if location.is_some_and(|l| l.file().contains("/sled-")) {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let at = location.map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
            if let Ok(mut slot) = STORAGE_PANIC.lock() {
                *slot = Some(format!("{message}{at}"));
            }
            return;
        }
        default(info);
    }));
}

/// The panic raised inside sled, if the one being handled was.
pub fn storage_panic() -> Option<String> {
    STORAGE_PANIC.lock().ok().and_then(|mut p| p.take())
}
