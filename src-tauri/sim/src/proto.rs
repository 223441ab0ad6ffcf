//! Just enough of the Kubernetes protobuf encoding to accept the bodies kubectl's typed
//! clients send (`kubectl create namespace|configmap|secret|serviceaccount|deployment` POST
//! protobuf). Other kinds in protobuf get 415, as from a server that does not speak it; a
//! Deployment with fields beyond what `kubectl create deployment` sets is refused the same
//! way rather than stored without them.

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

/// A message's fields, refusing any non-empty one not in `known`: a field left out would be
/// a field silently dropped from the stored object.
fn known_fields<'a>(
    b: &'a [u8],
    what: &str,
    known: &[u64],
) -> Result<Vec<(u64, Field<'a>)>, String> {
    let fs = fields(b).ok_or_else(|| format!("malformed protobuf {what}"))?;
    for (n, f) in &fs {
        // gogo-protobuf writes non-pointer fields even at their zero value.
        let empty = matches!(f, Field::Bytes(x) if x.is_empty()) || matches!(f, Field::Varint(0));
        if !known.contains(n) && !empty {
            return Err(format!(
                "protobuf {what} field {n} is not understood here; send the object as JSON"
            ));
        }
    }
    Ok(fs)
}

fn text(f: &Field<'_>, what: &str) -> Result<String, String> {
    match f {
        Field::Bytes(x) => string(x).ok_or_else(|| format!("malformed protobuf {what}")),
        Field::Varint(_) => Err(format!("malformed protobuf {what}")),
    }
}

fn container(b: &[u8]) -> Result<Value, String> {
    let mut c = Map::new();
    let mut command = vec![];
    let mut args = vec![];
    let mut ports = vec![];
    let mut env = vec![];
    for (n, f) in known_fields(b, "Container", &[1, 2, 3, 4, 5, 6, 7, 13, 14, 20])? {
        match (n, &f) {
            (1, _) => drop(c.insert("name".into(), json!(text(&f, "Container")?))),
            (2, _) => drop(c.insert("image".into(), json!(text(&f, "Container")?))),
            (3, _) => command.push(json!(text(&f, "Container")?)),
            (4, _) => args.push(json!(text(&f, "Container")?)),
            (5, _) => drop(c.insert("workingDir".into(), json!(text(&f, "Container")?))),
            (6, Field::Bytes(x)) => {
                let mut p = Map::new();
                for (pn, pf) in known_fields(x, "ContainerPort", &[1, 3, 4])? {
                    match (pn, pf) {
                        (3, Field::Varint(v)) => drop(p.insert("containerPort".into(), json!(v))),
                        (1, pf) => {
                            drop(p.insert("name".into(), json!(text(&pf, "ContainerPort")?)))
                        }
                        (4, pf) => {
                            drop(p.insert("protocol".into(), json!(text(&pf, "ContainerPort")?)))
                        }
                        _ => {}
                    }
                }
                ports.push(Value::Object(p));
            }
            (7, Field::Bytes(x)) => {
                let mut e = Map::new();
                for (en, ef) in known_fields(x, "EnvVar", &[1, 2])? {
                    let key = match en {
                        1 => "name",
                        2 => "value",
                        _ => continue,
                    };
                    e.insert(key.into(), json!(text(&ef, "EnvVar")?));
                }
                env.push(Value::Object(e));
            }
            (13, _) => drop(c.insert(
                "terminationMessagePath".into(),
                json!(text(&f, "Container")?),
            )),
            (14, _) => drop(c.insert("imagePullPolicy".into(), json!(text(&f, "Container")?))),
            (20, _) => drop(c.insert(
                "terminationMessagePolicy".into(),
                json!(text(&f, "Container")?),
            )),
            _ => {}
        }
    }
    for (k, v) in [
        ("command", command),
        ("args", args),
        ("ports", ports),
        ("env", env),
    ] {
        if !v.is_empty() {
            c.insert(k.into(), Value::Array(v));
        }
    }
    if !c.contains_key("resources") {
        c.insert("resources".into(), json!({}));
    }
    Ok(Value::Object(c))
}

/// An apps/v1 Deployment as `kubectl create deployment` sends it.
fn deployment(inner: &[u8]) -> Result<Value, String> {
    let mut obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}});
    for (n, f) in known_fields(inner, "Deployment", &[1, 2, 3])? {
        let Field::Bytes(x) = f else { continue };
        match n {
            1 => obj["metadata"] = object_meta(x).ok_or("malformed protobuf ObjectMeta")?,
            2 => obj["spec"] = deployment_spec(x)?,
            _ => {}
        }
    }
    Ok(obj)
}

fn deployment_spec(b: &[u8]) -> Result<Value, String> {
    let mut spec = Map::new();
    for (n, f) in known_fields(b, "DeploymentSpec", &[1, 2, 3, 4])? {
        match (n, f) {
            (4, Field::Bytes(x)) => {
                let mut strategy = Map::new();
                for (sn, sf) in known_fields(x, "DeploymentStrategy", &[1])? {
                    if sn == 1 {
                        strategy.insert("type".into(), json!(text(&sf, "DeploymentStrategy")?));
                    }
                }
                spec.insert("strategy".into(), Value::Object(strategy));
            }
            (1, Field::Varint(v)) => drop(spec.insert("replicas".into(), json!(v))),
            (2, Field::Bytes(x)) => {
                let mut labels = Map::new();
                for (ln, lf) in known_fields(x, "LabelSelector", &[1])? {
                    if let (1, Field::Bytes(e)) = (ln, lf) {
                        let (k, v) =
                            map_entry(e, false).ok_or("malformed protobuf LabelSelector")?;
                        labels.insert(k, v);
                    }
                }
                spec.insert("selector".into(), json!({"matchLabels": labels}));
            }
            (3, Field::Bytes(x)) => {
                let mut template = json!({});
                for (tn, tf) in known_fields(x, "PodTemplateSpec", &[1, 2])? {
                    let Field::Bytes(t) = tf else { continue };
                    if tn == 1 {
                        template["metadata"] =
                            object_meta(t).ok_or("malformed protobuf ObjectMeta")?;
                    } else {
                        let mut containers = vec![];
                        for (cn, cf) in known_fields(t, "PodSpec", &[2])? {
                            if let (2, Field::Bytes(c)) = (cn, cf) {
                                containers.push(container(c)?);
                            }
                        }
                        template["spec"] = json!({"containers": containers});
                    }
                }
                spec.insert("template".into(), template);
            }
            _ => {}
        }
    }
    Ok(Value::Object(spec))
}

/// Decodes a `k8s\0`-framed protobuf body to the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let unsupported = || {
        "protobuf bodies are only understood for Namespace, ConfigMap, Secret, ServiceAccount and apps/v1 Deployment"
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
    if api_version == "apps/v1" && kind == "Deployment" {
        return deployment(inner);
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

    #[test]
    fn decodes_a_deployment_and_refuses_fields_it_would_drop() {
        let labels = field(11, &[field(1, b"app"), field(2, b"web")].concat());
        let port = [(3u8 << 3), 80].to_vec();
        let container = [
            field(1, b"nginx"),
            field(2, b"nginx:1"),
            field(6, &port),
            field(8, b""),
            vec![0x80, 0x01, 0], // stdin: false (field 16)
        ]
        .concat();
        let template = [field(1, &labels), field(2, &field(2, &container))].concat();
        let spec = [
            vec![1 << 3, 2],
            field(2, &field(1, &[field(1, b"app"), field(2, b"web")].concat())),
            field(3, &template),
            field(4, b""),
        ]
        .concat();
        let tm = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = |spec: &[u8]| {
            let inner = [field(1, &field(1, b"web")), field(2, spec)].concat();
            [b"k8s\0".to_vec(), field(1, &tm), field(2, &inner)].concat()
        };
        let d = decode(&body(&spec)).unwrap();
        assert_eq!(d["metadata"]["name"], "web");
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "web");
        assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "web");
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c.as_array().unwrap().len(), 1);
        assert_eq!(c[0]["image"], "nginx:1");
        assert_eq!(c[0]["ports"][0]["containerPort"], 80);
        // paused: true is not read here, so the whole body is refused.
        let paused = [spec.clone(), vec![7 << 3, 1]].concat();
        assert!(decode(&body(&paused)).unwrap_err().contains("field 7"));
    }
}
