//! Just enough of the Kubernetes protobuf encoding to accept the bodies kubectl's typed
//! clients send (`kubectl create namespace|configmap|secret|serviceaccount` POST protobuf).
//! Other kinds in protobuf get 415, as from a server that does not speak it.

use serde_json::{Map, Value, json};

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut pos = 0;
    let mut out = vec![];
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((num, Field::Varint(varint(buf, &mut pos)?))),
            1 => pos = pos.checked_add(8)?,
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                out.push((num, Field::Bytes(buf.get(pos..end)?)));
                pos = end;
            }
            5 => pos = pos.checked_add(4)?,
            _ => return None,
        }
    }
    (pos == buf.len()).then_some(out)
}

fn string(b: &[u8]) -> Option<String> {
    String::from_utf8(b.to_vec()).ok()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A map<string, string|bytes> entry list.
fn map_entry(b: &[u8], bytes_value: bool) -> Option<(String, Value)> {
    let mut k = String::new();
    let mut v = Value::String(String::new());
    for (n, f) in fields(b)? {
        if let Field::Bytes(x) = f {
            match n {
                1 => k = string(x)?,
                2 => {
                    v = if bytes_value {
                        json!(base64(x))
                    } else {
                        json!(string(x)?)
                    }
                }
                _ => {}
            }
        }
    }
    Some((k, v))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(x) = f else { continue };
        match n {
            1 => {
                m.insert("name".into(), json!(string(x)?));
            }
            2 => {
                m.insert("generateName".into(), json!(string(x)?));
            }
            3 => {
                m.insert("namespace".into(), json!(string(x)?));
            }
            11 => {
                let (k, v) = map_entry(x, false)?;
                labels.insert(k, v);
            }
            12 => {
                let (k, v) = map_entry(x, false)?;
                annotations.insert(k, v);
            }
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Some(Value::Object(m))
}

/// Decodes a `k8s\0`-framed protobuf body to the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let unsupported = || {
        "protobuf bodies are only understood for Namespace, ConfigMap, Secret and ServiceAccount"
            .to_string()
    };
    let raw = body
        .strip_prefix(b"k8s\0")
        .ok_or("missing the k8s protobuf magic prefix")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut inner: &[u8] = &[];
    for (n, f) in fields(raw).ok_or("malformed protobuf envelope")? {
        let Field::Bytes(x) = f else { continue };
        match n {
            1 => {
                for (tn, tf) in fields(x).ok_or("malformed protobuf type meta")? {
                    if let Field::Bytes(s) = tf {
                        match tn {
                            1 => api_version = string(s).unwrap_or_default(),
                            2 => kind = string(s).unwrap_or_default(),
                            _ => {}
                        }
                    }
                }
            }
            2 => inner = x,
            _ => {}
        }
    }
    if api_version != "v1" {
        return Err(unsupported());
    }
    let mut obj = json!({"apiVersion": api_version, "kind": kind});
    let bad = || format!("malformed protobuf {kind}");
    let mut data = Map::new();
    let mut binary = Map::new();
    let mut string_data = Map::new();
    for (n, f) in fields(inner).ok_or_else(bad)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(x)) => obj["metadata"] = object_meta(x).ok_or_else(bad)?,
            ("ConfigMap", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false).ok_or_else(bad)?;
                data.insert(k, v);
            }
            ("ConfigMap", 3, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true).ok_or_else(bad)?;
                binary.insert(k, v);
            }
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                obj["immutable"] = json!(v != 0)
            }
            ("Secret", 2, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, true).ok_or_else(bad)?;
                data.insert(k, v);
            }
            ("Secret", 3, Field::Bytes(x)) => obj["type"] = json!(string(x).ok_or_else(bad)?),
            ("Secret", 4, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, false).ok_or_else(bad)?;
                string_data.insert(k, v);
            }
            ("ServiceAccount", 4, Field::Varint(v)) => {
                obj["automountServiceAccountToken"] = json!(v != 0)
            }
            ("Namespace" | "ServiceAccount" | "ConfigMap" | "Secret", _, _) => {}
            _ => return Err(unsupported()),
        }
    }
    if !matches!(
        kind.as_str(),
        "Namespace" | "ServiceAccount" | "ConfigMap" | "Secret"
    ) {
        return Err(unsupported());
    }
    if !data.is_empty() {
        obj["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        obj["binaryData"] = Value::Object(binary);
    }
    if !string_data.is_empty() {
        // The API server folds stringData into data.
        let d = obj["data"].as_object().cloned().unwrap_or_default();
        let mut d = d;
        for (k, v) in string_data {
            d.insert(k, json!(base64(v.as_str().unwrap_or("").as_bytes())));
        }
        obj["data"] = Value::Object(d);
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, b.len() as u8];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = [
            field(1, b"cm1"),
            field(11, &[field(1, b"app"), field(2, b"x")].concat()),
        ]
        .concat();
        let entry = [field(1, b"k"), field(2, b"v")].concat();
        let inner = [field(1, &meta), field(2, &entry)].concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &inner)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["metadata"]["name"], "cm1");
        assert_eq!(v["metadata"]["labels"]["app"], "x");
        assert_eq!(v["data"]["k"], "v");
        assert!(decode(b"k8s\0\xff\xff").is_err());
        assert!(decode(b"nope").is_err());
        assert_eq!(base64(b"hi!?"), "aGkhPw==");
    }
}
