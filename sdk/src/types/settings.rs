//! An organization's AI settings: whether AI features are on, the tone, and how often keys are
//! due for rotation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The tone a completion answers in, applied as a system instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// Clear and formal.
    Professional,
    /// Warm and approachable.
    Friendly,
    /// Relaxed and conversational.
    Casual,
}

impl Tone {
    /// The tone's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Professional => "professional",
            Self::Friendly => "friendly",
            Self::Casual => "casual",
        }
    }
}

impl std::str::FromStr for Tone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "professional" => Ok(Self::Professional),
            "friendly" => Ok(Self::Friendly),
            "casual" => Ok(Self::Casual),
            other => Err(format!("unknown tone `{other}`: expected professional, friendly or casual")),
        }
    }
}

/// An organization's AI settings (`GET /api/v1/settings/ai`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AiSettings {
    /// When off, completions answer `AI_DISABLED`.
    pub enabled: bool,
    /// Default tone of completions; absent for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    /// Provider keys older than this many days are flagged `rotation_due`.
    #[serde(default = "default_rotation_days")]
    pub key_rotation_days: u32,
}

/// The rotation period of an organization that has not set one: 90 days.
pub const DEFAULT_KEY_ROTATION_DAYS: u32 = 90;

fn default_rotation_days() -> u32 {
    DEFAULT_KEY_ROTATION_DAYS
}

/// `PUT /api/v1/settings/ai` (owners only). Absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAiSettings {
    /// Turn AI features on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Set the default tone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    /// Set the key rotation period, in days (1 to 3650).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_rotation_days: Option<u32>,
}
