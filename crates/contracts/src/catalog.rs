//! Events emitted by the catalog service. Ordering keeps its own price list from them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Event, Money};

/// A product's sellable facts, carried by created/updated events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ProductFacts {
    /// The product.
    pub product_id: String,
    /// Its sku.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price.
    pub price: Money,
    /// Its category.
    pub category_id: Option<String>,
    /// The product it is a variant of.
    pub variant_of: Option<String>,
}

/// A product was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ProductCreated(pub ProductFacts);

impl Event for ProductCreated {
    const TYPE: &'static str = "catalog.product.created.v1";
    fn subject(&self) -> String {
        self.0.product_id.clone()
    }
}

/// A product changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ProductUpdated(pub ProductFacts);

impl Event for ProductUpdated {
    const TYPE: &'static str = "catalog.product.updated.v1";
    fn subject(&self) -> String {
        self.0.product_id.clone()
    }
}

/// A product was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ProductDeleted {
    /// The product.
    pub product_id: String,
    /// Its sku.
    pub sku: String,
}

impl Event for ProductDeleted {
    const TYPE: &'static str = "catalog.product.deleted.v1";
    fn subject(&self) -> String {
        self.product_id.clone()
    }
}

/// A product's price changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct PriceChanged {
    /// The product.
    pub product_id: String,
    /// Its sku.
    pub sku: String,
    /// The price before.
    pub old_price: Money,
    /// The price now.
    pub new_price: Money,
}

impl Event for PriceChanged {
    const TYPE: &'static str = "catalog.product.price_changed.v1";
    fn subject(&self) -> String {
        self.product_id.clone()
    }
}

/// A sku became sellable or stopped being so (inventory's available units crossed
/// zero). Products' `in_stock` flag follows it; readers that keep copies of catalog
/// answers (the gateway's cache) drop them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct AvailabilityChanged {
    /// The sku.
    pub sku: String,
    /// Whether it can be bought now.
    pub in_stock: bool,
}

impl Event for AvailabilityChanged {
    const TYPE: &'static str = "catalog.sku.availability_changed.v1";
    fn subject(&self) -> String {
        self.sku.clone()
    }
}

/// A product sold out: its sku's available units reached zero (seed 001's
/// `ProductOutOfStock`). Announced once per sell-out, not again while it stays at zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ProductOutOfStock {
    /// The product.
    pub product_id: String,
    /// Its sku.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// The product it is a variant of.
    #[serde(default)]
    pub variant_of: Option<String>,
}

impl Event for ProductOutOfStock {
    const TYPE: &'static str = "catalog.product.out_of_stock.v1";
    fn subject(&self) -> String {
        self.product_id.clone()
    }
}
