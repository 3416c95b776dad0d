//! The model catalogue in Anthropic's shapes, for `GET /v1/models` and `GET /v1/models/{id}`
//! asked with `anthropic-version` (what the Anthropic SDKs' `models.list` / `models.retrieve`
//! read): one construction of a model's entry, so the list and a single model never differ.

use super::{ModelInfo, ModelPage};

/// Converra knows no release date of a model; the Unix epoch stands for it (the field is required).
const CREATED_AT: &str = "1970-01-01T00:00:00Z";

impl ModelInfo {
    /// A model by the name `/v1/messages` takes (its display name too: Converra keeps no other).
    pub fn named(id: &str) -> ModelInfo {
        ModelInfo { kind: "model", id: id.into(), display_name: id.into(), created_at: CREATED_AT }
    }
}

impl ModelPage {
    /// The whole catalogue as one page: `has_more` false, `first_id` / `last_id` its ends.
    pub fn of<'a>(models: impl IntoIterator<Item = &'a str>) -> ModelPage {
        let data: Vec<ModelInfo> = models.into_iter().map(ModelInfo::named).collect();
        let (first_id, last_id) = (data.first().map(|m| m.id.clone()), data.last().map(|m| m.id.clone()));
        ModelPage { data, has_more: false, first_id, last_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_names_its_ends_and_each_model_in_anthropics_shape() {
        let page = serde_json::to_value(ModelPage::of(["claude-sonnet-4-5", "deepseek-chat"])).unwrap();
        assert_eq!(
            page,
            serde_json::json!({
                "data": [
                    {"type": "model", "id": "claude-sonnet-4-5", "display_name": "claude-sonnet-4-5", "created_at": "1970-01-01T00:00:00Z"},
                    {"type": "model", "id": "deepseek-chat", "display_name": "deepseek-chat", "created_at": "1970-01-01T00:00:00Z"}
                ],
                "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "deepseek-chat"
            })
        );
        let empty = serde_json::to_value(ModelPage::of([])).unwrap();
        assert_eq!(empty, serde_json::json!({"data": [], "has_more": false, "first_id": null, "last_id": null}));
    }
}
