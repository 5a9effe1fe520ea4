//! `ikrar import-snapshots` beside a running server (SPEC §7.1, §12): the log read and the
//! events recorded through `ikrar.sock`, with the report, the ledger, a rerun and a bad input
//! answered exactly as without the server.

use crate::beside_server::{start_server, stop};
use crate::import_snapshots::{history, import, log_without_times, write_history};
use crate::{json, stderr, Env};

#[test]
fn import_snapshots_through_a_running_server_gives_the_ledger_and_report_of_a_direct_one() {
    let history = history::history(4, 20, 60);
    let direct = Env::with_ledger();
    let beside = Env::with_ledger();
    let mapping = direct.file("m.toml", &history::mapping("retract"));
    let args = write_history(&direct, &history, "csv");
    // Half the history first, then the rest: the second run continues from what the ledger
    // holds, which beside the server is read through the socket.
    let (first, rest) = args.split_at(2);
    for env in [&direct, &beside] {
        let out = import(env, &mapping, first);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let server = start_server(&beside);
    let by_direct = import(&direct, &mapping, rest);
    let by_server = import(&beside, &mapping, rest);
    assert_eq!(by_server.status.code(), Some(0), "{}", stderr(&by_server));
    assert_eq!(json(&by_server), json(&by_direct));
    assert!(json(&by_server)["new_events"].as_u64().unwrap() > 0);

    // A rerun records nothing; a dry run writes nothing; both through the server.
    let again = import(&beside, &mapping, &args);
    assert_eq!(json(&again)["new_events"], 0, "{}", stderr(&again));
    let mut dry = args.to_vec();
    dry.push("--dry-run".into());
    assert_eq!(json(&import(&beside, &mapping, &dry))["new_events"], 0);

    // Bad input: the same words and exit code either way.
    let bad = beside.file("bad.csv", "id,title,status\n1,One,Unheard-of\n");
    let bad = vec![format!("2031-01-01={}", bad.display())];
    let (d, b) = (
        import(&direct, &mapping, &bad),
        import(&beside, &mapping, &bad),
    );
    assert_eq!(b.status.code(), Some(2), "{}", stderr(&b));
    assert_eq!((d.status.code(), stderr(&d)), (b.status.code(), stderr(&b)));
    stop(server);
    assert_eq!(log_without_times(&beside), log_without_times(&direct));
}
