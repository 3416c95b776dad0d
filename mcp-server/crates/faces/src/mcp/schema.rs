//! Tool schemas every MCP client accepts. schemars describes an `Option<T>` as nullable
//! (`"type": ["string", "null"]`, or `anyOf` with `{"type": "null"}`) and integers with
//! non-standard formats (`"format": "uint64"`); strict clients warn about both, and some drop a
//! tool whose schema has a top-level `oneOf`/`anyOf`. Since every face omits an absent optional
//! value rather than sending `null`, an optional field is simply not required: the null type
//! goes, and integer formats become `minimum` bounds.

use rmcp::handler::server::router::tool::ToolRouter;
use serde_json::{Map, Value};

/// Rewrites every tool's input and output schema of `router` in place.
pub fn make_portable<S>(router: &mut ToolRouter<S>) {
    for route in router.map.values_mut() {
        let tool = &mut route.attr;
        tool.input_schema = std::sync::Arc::new(portable(tool.input_schema.as_ref().clone()));
        if let Some(output) = &tool.output_schema {
            tool.output_schema = Some(std::sync::Arc::new(portable(output.as_ref().clone())));
        }
    }
}

/// One schema object, rewritten (recursively).
pub fn portable(mut schema: Map<String, Value>) -> Map<String, Value> {
    // `anyOf: [X, {"type": "null"}]` is X (keeping this object's own description, default…).
    if let Some(Value::Array(options)) = schema.get("anyOf") {
        let kept: Vec<Value> = options.iter().filter(|o| !is_null_type(o)).cloned().collect();
        if kept.len() == 1 && kept.len() < options.len() {
            schema.remove("anyOf");
            if let Value::Object(only) = kept.into_iter().next().expect("one kept") {
                for (k, v) in only {
                    schema.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(Value::Array(types)) = schema.get("type") {
        let kept: Vec<Value> = types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
        schema.insert("type".into(), if kept.len() == 1 { kept[0].clone() } else { Value::Array(kept) });
    }
    if schema.get("default") == Some(&Value::Null) {
        schema.remove("default");
    }
    schema.remove("nullable");
    if let Some(Value::String(format)) = schema.get("format").cloned()
        && let Some(minimum) = integer_minimum(&format)
    {
        schema.remove("format");
        if let Some(min) = minimum {
            schema.entry("minimum").or_insert(Value::from(min));
        }
    }
    for (_, value) in schema.iter_mut() {
        rewrite(value);
    }
    schema
}

fn rewrite(value: &mut Value) {
    match value {
        Value::Object(map) => *map = portable(std::mem::take(map)),
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        _ => {}
    }
}

fn is_null_type(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// For schemars' number formats: the lower bound they stand for (`None` for signed ones and
/// floats), or `None` when `format` is not one (a standard one like `date-time` stays).
fn integer_minimum(format: &str) -> Option<Option<u64>> {
    match format {
        "uint" | "uint8" | "uint16" | "uint32" | "uint64" | "uint128" => Some(Some(0)),
        "int" | "int8" | "int16" | "int32" | "int64" | "int128" | "float" | "double" => Some(None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::portable;

    fn rewritten(schema: serde_json::Value) -> serde_json::Value {
        serde_json::Value::Object(portable(schema.as_object().unwrap().clone()))
    }

    #[test]
    fn optional_fields_lose_their_null_and_integers_their_format() {
        let schema = json!({"type": "object", "properties": {
            "month": {"type": ["string", "null"], "default": null, "description": "YYYY-MM"},
            "provider": {"anyOf": [{"$ref": "#/$defs/Provider"}, {"type": "null"}], "description": "which"},
            "tokens": {"type": "integer", "format": "uint64"},
            "delta": {"type": "integer", "format": "int32"},
            "at": {"type": "string", "format": "date-time"}
        }});
        assert_eq!(
            rewritten(schema),
            json!({"type": "object", "properties": {
                "month": {"type": "string", "description": "YYYY-MM"},
                "provider": {"$ref": "#/$defs/Provider", "description": "which"},
                "tokens": {"type": "integer", "minimum": 0},
                "delta": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"}
            }})
        );
    }
}
