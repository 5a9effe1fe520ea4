//! Audit trails against a real ledger.

use ikrar_core::{InputEvent, Ledger};
use uuid::Uuid;

const C: &str = "0194a1c2-7f00-7000-8000-000000000001";
const M: &str = "0194a1c2-7f00-7000-8000-000000000002";

fn event(json: &str) -> InputEvent {
    InputEvent::from_json(json).unwrap()
}

fn setup() -> (tempfile::TempDir, Ledger, Vec<Uuid>) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::create(dir.path().join("l")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt
        .block_on(ledger.append(vec![
            event(&format!(r#"{{"type":"commitment_made","actor":"kim","data":{{"commitment_id":"{C}","title":"Summit","made_on":"2025-01-16"}}}}"#)),
            event(&format!(r#"{{"type":"meeting_held","actor":"lee","data":{{"meeting_id":"{M}","title":"Talks","held_on":"2025-01-16","commitment_ids":["{C}"]}}}}"#)),
            event(&format!(r#"{{"type":"commitment_status_changed","actor":"kim","data":{{"commitment_id":"{C}","status":"broken"}}}}"#)),
        ]))
        .unwrap();
    let wrong = out.event_ids[2];
    let more = rt
        .block_on(ledger.append(vec![
            event(&format!(r#"{{"type":"event_retracted","actor":"park","reason":"wrong status","data":{{"event_id":"{wrong}"}}}}"#)),
            event(&format!(r#"{{"type":"commitment_status_changed","actor":"kim","data":{{"commitment_id":"{C}","status":"in_progress"}}}}"#)),
        ]))
        .unwrap();
    let mut ids = out.event_ids;
    ids.extend(more.event_ids);
    (dir, ledger, ids)
}

#[test]
fn a_history_lists_the_streams_events_in_order_with_their_retractions() {
    let (_dir, ledger, ids) = setup();
    let h = ikrar_audit::history(&ledger, C.parse().unwrap()).unwrap();
    let positions: Vec<u64> = h.entries.iter().map(|e| e.record.position).collect();
    assert_eq!(positions, [0, 2, 3, 4]);
    assert_eq!(h.entries[1].retracted_by, Some(ids[3]));
    assert!(h
        .entries
        .iter()
        .filter(|e| e.record.position != 2)
        .all(|e| e.retracted_by.is_none()));

    // The JSON form is the stored record, field for field, plus `retracted_by`.
    let json = serde_json::to_value(&h.entries[1]).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.first(), Some(&"position"));
    assert_eq!(keys.last(), Some(&"retracted_by"));
    assert_eq!(json["retracted_by"], ids[3].to_string());

    let meeting = ikrar_audit::history(&ledger, M.parse().unwrap()).unwrap();
    assert_eq!(meeting.entries.len(), 1);
    assert!(matches!(
        ikrar_audit::history(&ledger, Uuid::nil()),
        Err(ikrar_audit::Error::UnknownSubject(_))
    ));
}

#[test]
fn actor_activity_counts_every_event() {
    let (_dir, ledger, _) = setup();
    let actors = ikrar_audit::actors(&ledger).unwrap();
    let names: Vec<&str> = actors.iter().map(|a| a.actor.as_str()).collect();
    assert_eq!(names, ["kim", "lee", "park"]);
    assert_eq!(actors[0].events, 3);
    assert_eq!(actors[0].by_type["commitment_status_changed"], 2);
    assert_eq!(actors[2].retractions, 1);
}

#[test]
fn a_verification_report_names_the_first_bad_position() {
    let (dir, ledger, _) = setup();
    let report = ikrar_audit::verification_report(&ledger, &mut |_| {}).unwrap();
    assert!(report.ok);
    assert_eq!(report.tree_size, 5);
    assert_eq!(report.root, Some(ledger.head().root.to_base64()));
    drop(ledger);
    {
        let db = ikrar_testkit::tamper::open_raw_sled(&dir.path().join("l").join("db"));
        let log = db.open_tree("log").unwrap();
        // Record 1 is in the first bundle (the first append's three records).
        let mut key = vec![b'b'];
        key.extend_from_slice(&0u64.to_be_bytes());
        let v = String::from_utf8(log.get(&key).unwrap().unwrap().to_vec()).unwrap();
        log.insert(&key, v.replace("Talks", "Tulks").as_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let ledger = Ledger::open(dir.path().join("l")).unwrap();
    let report = ikrar_audit::verification_report(&ledger, &mut |_| {}).unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_position, Some(1));
}
