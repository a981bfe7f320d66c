//! Canonical encoding: one byte string per JSON value, so that equal records
//! hash to equal tokens on every device.
//!
//! Rules: object keys sorted by their UTF-8 bytes, no insignificant
//! whitespace, strings escaped as `serde_json` escapes them, numbers in
//! `serde_json`'s shortest form. Records use integers, never floats, for
//! anything that is hashed.

use serde::Serialize;
use serde_json::Value;

/// Canonical bytes of any serialisable value.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    let mut out = Vec::new();
    write_value(&v, &mut out);
    Ok(out)
}

fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                write_value(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Serialising a scalar `Value` into a Vec cannot fail.
    serde_json::to_writer(&mut *out, v).unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{ "b": 1, "a": [ {"y":2,"x":"é"} ] }"#).unwrap();
        let b = json!({"a":[{"x":"é","y":2}],"b":1});
        assert_eq!(to_canonical(&a).unwrap(), to_canonical(&b).unwrap());
        assert_eq!(to_canonical(&b).unwrap(), r#"{"a":[{"x":"é","y":2}],"b":1}"#.as_bytes().to_vec());
    }
}
