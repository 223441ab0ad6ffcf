//! Property tests for the simulated API server's selectors, patches and input handling.

use std::collections::BTreeMap;
use std::sync::Arc;

use playground_sim::test_support::{
    LabelSelector, PatchKind, SimRng, Store, SystemClock, WriteOpts, merge_patch,
    strategic_merge_patch,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("app".to_string()),
        Just("version".to_string()),
        Just("example.com/tier".to_string()),
        "[a-z]{1,3}"
    ]
}

fn val() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v1".to_string()),
        Just("v2".to_string()),
        "[a-z0-9]{1,4}"
    ]
}

fn req() -> impl Strategy<Value = Req> {
    prop_oneof![
        (key(), val()).prop_map(|(k, v)| Req::Eq(k, v)),
        (key(), val()).prop_map(|(k, v)| Req::Ne(k, v)),
        (key(), prop::collection::vec(val(), 1..4)).prop_map(|(k, v)| Req::In(k, v)),
        (key(), prop::collection::vec(val(), 1..4)).prop_map(|(k, v)| Req::NotIn(k, v)),
        key().prop_map(Req::Exists),
        key().prop_map(Req::NotExists),
    ]
}

fn render(r: &Req) -> String {
    match r {
        Req::Eq(k, v) => format!("{k}={v}"),
        Req::Ne(k, v) => format!("{k}!={v}"),
        Req::In(k, vs) => format!("{k} in ({})", vs.join(",")),
        Req::NotIn(k, vs) => format!("{k} notin ({})", vs.join(", ")),
        Req::Exists(k) => k.clone(),
        Req::NotExists(k) => format!("!{k}"),
    }
}

/// The selector semantics written out plainly, as the model to check against.
fn model(r: &Req, labels: &BTreeMap<String, String>) -> bool {
    match r {
        Req::Eq(k, v) => labels.get(k) == Some(v),
        Req::Ne(k, v) => labels.get(k) != Some(v),
        Req::In(k, vs) => labels.get(k).is_some_and(|x| vs.contains(x)),
        Req::NotIn(k, vs) => labels.get(k).is_none_or(|x| !vs.contains(x)),
        Req::Exists(k) => labels.contains_key(k),
        Req::NotExists(k) => !labels.contains_key(k),
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn map_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,4}".prop_map(Value::String)
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map("[a-d]", inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
    })
}

fn map_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", map_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn has_arrays(v: &Value) -> bool {
    match v {
        Value::Array(_) => true,
        Value::Object(m) => m.values().any(has_arrays),
        _ => false,
    }
}

proptest! {
    #[test]
    fn parsed_selectors_agree_with_the_model(
        reqs in prop::collection::vec(req(), 1..4),
        labels in prop::collection::btree_map(key(), val(), 0..4),
    ) {
        let text = reqs.iter().map(render).collect::<Vec<_>>().join(",");
        let sel = LabelSelector::parse(&text).unwrap();
        let as_json: Map<String, Value> = labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        prop_assert_eq!(sel.matches(Some(&as_json)), reqs.iter().all(|r| model(r, &labels)), "{}", text);
    }

    #[test]
    fn selector_parser_never_panics(s in ".{0,40}") {
        let _ = LabelSelector::parse(&s);
    }

    #[test]
    fn merge_patch_is_idempotent_and_drops_nulls(target in object(), patch in object()) {
        let mut once = target.clone();
        merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        merge_patch(&mut twice, &patch);
        prop_assert_eq!(&once, &twice);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                prop_assert!(once.get(k).is_none());
            } else if !v.is_object() {
                prop_assert_eq!(once.get(k), Some(&strip_nulls(v)));
            }
        }
    }

    #[test]
    fn strategic_merge_equals_merge_patch_without_lists(target in map_object(), patch in map_object()) {
        prop_assert!(!has_arrays(&patch) && !has_arrays(&target));
        let mut a = target.clone();
        merge_patch(&mut a, &patch);
        let mut b = target.clone();
        strategic_merge_patch(&mut b, &patch).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn arbitrary_patch_bodies_never_corrupt_the_store(body in prop::collection::vec(any::<u8>(), 0..64), kind in 0usize..4) {
        let store = Store::new(Arc::new(SystemClock), SimRng::new(1), 64);
        let ns = store.def_for_kind("", "Namespace").unwrap();
        store.create(&ns, "v1", "", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}), &WriteOpts::manager("t")).unwrap();
        let cm = store.def_for_kind("", "ConfigMap").unwrap();
        let before = store.create(&cm, "v1", "default", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}), &WriteOpts::manager("t")).unwrap();
        let kind = [PatchKind::Merge, PatchKind::Json, PatchKind::Strategic, PatchKind::Apply][kind];
        let result = store.patch(&cm, "v1", "default", "c", kind, &body, false, &WriteOpts::manager("fuzz"));
        let after = store.get(&cm, "default", "c").unwrap();
        match result {
            Ok(v) => prop_assert_eq!(v, after),
            Err(e) => {
                prop_assert!([400, 409, 415, 422].contains(&e.code), "{:?}", e);
                prop_assert_eq!(before, after);
            }
        }
    }
}
