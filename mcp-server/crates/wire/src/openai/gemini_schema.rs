//! A JSON Schema as Gemini carries it (`responseJsonSchema`, `parametersJsonSchema`): Gemini
//! enforces only a subset of the keywords and ignores the rest, so a constraint outside it
//! (`pattern`, `minLength`, `allOf`…) would silently loosen the answer: refused by name. A
//! `const` is carried as the one-value `enum` it means; annotations that constrain nothing
//! (`default`, `examples`, `$schema`…) go as written.

use converra::Provider;
use serde_json::{Map, Value, json};

use super::translate::unsupported;
use converra_base::Error;

/// The keywords Gemini enforces, besides those holding subschemas (walked below).
const ENFORCED: [&str; 14] = [
    "type",
    "format",
    "title",
    "description",
    "enum",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "required",
    "propertyOrdering",
    "$id",
    "$ref",
    "$anchor",
];

/// Keywords that constrain nothing: carried, whatever Gemini makes of them.
const ANNOTATIONS: [&str; 7] = ["$schema", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"];

/// `schema` as Gemini carries it, or the first keyword it cannot enforce, named by its path
/// under `at` (`response_format.json_schema.schema.properties.email.pattern`).
pub(super) fn carried(schema: &Value, at: &str) -> Result<Value, Error> {
    let Value::Object(members) = schema else { return Ok(schema.clone()) };
    let mut out = Map::with_capacity(members.len());
    for (name, value) in members {
        let path = format!("{at}.{name}");
        let value = match name.as_str() {
            "properties" | "$defs" => match value {
                Value::Object(map) => {
                    let mut each = Map::with_capacity(map.len());
                    for (key, sub) in map {
                        each.insert(key.clone(), carried(sub, &format!("{path}.{key}"))?);
                    }
                    Value::Object(each)
                }
                other => other.clone(),
            },
            "items" | "additionalProperties" => carried(value, &path)?,
            "prefixItems" | "anyOf" | "oneOf" => match value {
                Value::Array(list) => Value::Array(
                    list.iter()
                        .enumerate()
                        .map(|(i, sub)| carried(sub, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                ),
                other => other.clone(),
            },
            "const" if !members.contains_key("enum") => {
                out.insert("enum".into(), json!([value]));
                continue;
            }
            name if ENFORCED.contains(&name) || ANNOTATIONS.contains(&name) => value.clone(),
            _ => return Err(unsupported(path, Provider::Gemini)),
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: Error) -> String {
        match e {
            Error::UnsupportedField { field, provider: Provider::Gemini } => field,
            other => panic!("not refused for Gemini: {other:?}"),
        }
    }

    #[test]
    fn enforced_keywords_go_as_written_a_const_as_its_enum_and_any_other_constraint_is_refused_by_path() {
        let schema = json!({"type": "object", "$defs": {"Kind": {"const": "cat"}},
            "properties": {"name": {"type": "string", "description": "Who", "default": "x"},
                "kind": {"$ref": "#/$defs/Kind"},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 3},
                "either": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}},
            "required": ["name"], "additionalProperties": false});
        let mut expected = schema.clone();
        expected["$defs"]["Kind"] = json!({"enum": ["cat"]});
        assert_eq!(carried(&schema, "s").unwrap(), expected);

        let pattern = json!({"type": "object", "properties": {"email": {"type": "string", "pattern": "@"}}});
        assert_eq!(field(carried(&pattern, "s").unwrap_err()), "s.properties.email.pattern");
        let all_of = json!({"anyOf": [{"type": "string"}, {"allOf": [{"type": "string"}]}]});
        assert_eq!(field(carried(&all_of, "p").unwrap_err()), "p.anyOf[1].allOf");
        let min_length = json!({"type": "array", "items": {"type": "string", "minLength": 2}});
        assert_eq!(field(carried(&min_length, "p").unwrap_err()), "p.items.minLength");
    }
}
