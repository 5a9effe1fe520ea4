//! The OpenAPI document lists the error answers each route can give (SPEC §7), checked from the
//! document itself: a route added later without them fails here.

use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(ikrar_server::openapi::document()).unwrap()
}

/// Whether the operation needs a token: it inherits the document's bearer requirement, or
/// names one; `security: [{}]` makes the token optional.
fn needs_token(operation: &Value) -> bool {
    match operation.get("security").and_then(Value::as_array) {
        None => true,
        Some(requirements) => requirements
            .iter()
            .all(|r| r.as_object().is_some_and(|o| !o.is_empty())),
    }
}

fn takes_input(path_item: &Value, operation: &Value) -> bool {
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    non_empty(path_item.get("parameters"))
        || non_empty(operation.get("parameters"))
        || operation.get("requestBody").is_some()
}

#[test]
fn every_route_lists_the_errors_it_can_give_with_the_error_schema() {
    let doc = document();
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete", "patch"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let responses = operation["responses"].as_object().expect("responses");
            let mut expected = vec!["408", "413", "503"];
            if takes_input(item, operation) {
                expected.push("400");
            }
            if needs_token(operation) {
                expected.push("401");
                if method != "get" {
                    expected.push("403");
                }
            }
            for status in expected {
                let response = responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path} does not list {status}"));
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}: {response}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations in the document");
}

#[test]
fn the_document_says_which_routes_need_a_token_and_which_record() {
    let doc = document();
    assert!(!needs_token(&doc["paths"]["/healthz"]["get"]));
    assert!(doc["paths"]["/healthz"]["get"]["responses"]
        .get("401")
        .is_none());
    let append = &doc["paths"]["/v1/events"]["post"];
    assert!(needs_token(append));
    for status in ["400", "401", "403", "413"] {
        assert!(
            append["responses"].get(status).is_some(),
            "append: {status}"
        );
    }
    let read = &doc["paths"]["/v1/summary"]["get"];
    assert!(read["responses"].get("403").is_none(), "a reader may GET");
}
