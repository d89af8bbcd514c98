//! Converting between Ruby values and JSON without going through Ruby's `JSON` library.
//!
//! Encoding accepts exactly what JSON can represent: Hash (String or Symbol keys), Array,
//! String, Symbol (as a string), Integer within 64 bits, finite Float, true, false and nil. Any
//! other object is a `TypeError` naming its class and where in the payload it sits. Decoding
//! builds Hashes with String keys.

use magnus::rb_sys::FromRawValue;
use magnus::value::ReprValue;
use magnus::{Error, Float, Integer, RArray, RHash, RString, Ruby, Symbol, Value};
use serde_json::{Map, Number, Value as Json};

/// Deepest nesting accepted, so a cyclic structure fails instead of overflowing the stack.
const MAX_DEPTH: usize = 128;

/// Encodes a Ruby value as JSON.
pub(crate) fn to_json(ruby: &Ruby, value: Value) -> Result<Json, Error> {
    encode(ruby, value, &mut String::from("payload"), 0)
}

fn encode(ruby: &Ruby, value: Value, path: &mut String, depth: usize) -> Result<Json, Error> {
    if depth > MAX_DEPTH {
        return Err(type_error(
            ruby,
            format!("{path} is nested more than {MAX_DEPTH} levels deep (is it cyclic?)"),
        ));
    }
    if value.is_nil() {
        return Ok(Json::Null);
    }
    if let Some(string) = RString::from_value(value) {
        return string
            .to_string()
            .map(Json::String)
            .map_err(|_| not_utf8(ruby, path));
    }
    if let Some(hash) = RHash::from_value(value) {
        let mut map = Map::with_capacity(hash.len());
        let mut failure = None;
        hash.foreach(|key: Value, item: Value| {
            let name = match key_name(ruby, key, path) {
                Ok(name) => name,
                Err(error) => {
                    failure = Some(error);
                    return Ok(magnus::r_hash::ForEach::Stop);
                }
            };
            let mark = path.len();
            path.push('[');
            path.push_str(&format!("{name:?}"));
            path.push(']');
            let encoded = encode(ruby, item, path, depth + 1);
            path.truncate(mark);
            match encoded {
                Ok(json) => {
                    map.insert(name, json);
                    Ok(magnus::r_hash::ForEach::Continue)
                }
                Err(error) => {
                    failure = Some(error);
                    Ok(magnus::r_hash::ForEach::Stop)
                }
            }
        })?;
        return match failure {
            Some(error) => Err(error),
            None => Ok(Json::Object(map)),
        };
    }
    if let Some(array) = RArray::from_value(value) {
        let mut items = Vec::with_capacity(array.len());
        for (index, item) in array.into_iter().enumerate() {
            let mark = path.len();
            path.push_str(&format!("[{index}]"));
            let encoded = encode(ruby, item, path, depth + 1);
            path.truncate(mark);
            items.push(encoded?);
        }
        return Ok(Json::Array(items));
    }
    if value.is_kind_of(ruby.class_true_class()) {
        return Ok(Json::Bool(true));
    }
    if value.is_kind_of(ruby.class_false_class()) {
        return Ok(Json::Bool(false));
    }
    if let Some(integer) = Integer::from_value(value) {
        if let Ok(number) = integer.to_i64() {
            return Ok(Json::Number(number.into()));
        }
        if let Ok(number) = integer.to_u64() {
            return Ok(Json::Number(number.into()));
        }
        return Err(type_error(
            ruby,
            format!("{path} is an Integer too large for JSON (64 bits at most)"),
        ));
    }
    if let Some(float) = Float::from_value(value) {
        return Number::from_f64(float.to_f64())
            .map(Json::Number)
            .ok_or_else(|| {
                type_error(
                    ruby,
                    format!("{path} is a Float that JSON cannot represent (NaN or Infinity)"),
                )
            });
    }
    if let Some(symbol) = Symbol::from_value(value) {
        return Ok(Json::String(symbol.name()?.into_owned()));
    }
    Err(type_error(
        ruby,
        format!(
            "cannot encode {path} as JSON: it is a {}",
            class_name(value)
        ),
    ))
}

fn key_name(ruby: &Ruby, key: Value, path: &str) -> Result<String, Error> {
    if let Some(string) = RString::from_value(key) {
        return string
            .to_string()
            .map_err(|_| not_utf8(ruby, &format!("a key of {path}")));
    }
    if let Some(symbol) = Symbol::from_value(key) {
        return symbol
            .name()
            .map(|name| name.into_owned())
            .map_err(|_| not_utf8(ruby, &format!("a key of {path}")));
    }
    Err(type_error(
        ruby,
        format!(
            "{path} has a key of class {}; JSON keys must be Strings or Symbols",
            class_name(key)
        ),
    ))
}

/// JSON text is UTF-8, so a string that cannot become UTF-8 has no JSON form.
fn not_utf8(ruby: &Ruby, what: &str) -> Error {
    type_error(
        ruby,
        format!("{what} is a String that is not valid UTF-8; JSON strings must be UTF-8"),
    )
}

fn class_name(value: Value) -> String {
    value.class().inspect()
}

fn type_error(ruby: &Ruby, message: String) -> Error {
    Error::new(ruby.exception_type_error(), message)
}

/// Builds Ruby objects from JSON: Hashes with String keys.
pub(crate) fn to_ruby(ruby: &Ruby, json: &Json) -> Result<Value, Error> {
    Ok(match json {
        Json::Null => ruby.qnil().as_value(),
        Json::Bool(true) => ruby.qtrue().as_value(),
        Json::Bool(false) => ruby.qfalse().as_value(),
        Json::Number(number) => {
            if let Some(integer) = number.as_i64() {
                ruby.integer_from_i64(integer).as_value()
            } else if let Some(integer) = number.as_u64() {
                ruby.integer_from_u64(integer).as_value()
            } else {
                ruby.float_from_f64(number.as_f64().unwrap_or(f64::NAN))
                    .as_value()
            }
        }
        Json::String(string) => ruby.str_new(string).as_value(),
        Json::Array(items) => {
            let array = ruby.ary_new_capa(items.len());
            for item in items {
                array.push(to_ruby(ruby, item)?)?;
            }
            array.as_value()
        }
        Json::Object(map) => {
            let hash = ruby.hash_new();
            for (key, item) in map {
                hash.aset(interned(key), to_ruby(ruby, item)?)?;
            }
            hash.as_value()
        }
    })
}

/// The frozen, deduplicated String for a Hash key. A Hash stores a frozen copy of any String
/// key it is given, so building keys as new Strings cost an object per key and event; the
/// interned one is found in Ruby's table without allocating once the key has been seen.
fn interned(key: &str) -> Value {
    // A str is never longer than isize::MAX bytes, which fits a c_long on every target Ruby
    // supports.
    let len = std::os::raw::c_long::try_from(key.len()).unwrap_or(std::os::raw::c_long::MAX);
    // SAFETY: only `to_ruby` calls this, on a Ruby thread holding the GVL (it has `&Ruby`).
    // `key` is valid UTF-8 of `len` bytes for the whole call, which copies what it keeps, and
    // the VALUE returned is a live String that the GC will not move or free while the key is
    // referenced from the stack or the Hash.
    unsafe {
        let raw = rb_sys::rb_enc_interned_str(key.as_ptr().cast(), len, rb_sys::rb_utf8_encoding());
        Value::from_raw(raw)
    }
}
