//! Demo data (`viscount seed --demo`): a warehouse, a category tree, products with
//! descriptions and attributes, and their stock, made through the services' own
//! operations so every row, ledger entry and event is what a real admin would cause.
//!
//! Seeding is idempotent: the warehouse and categories are found by code and name,
//! products by sku, and stock is only added to a sku that has never had any (so a
//! second run, or a run after customers bought the demo stock, changes nothing).

use std::collections::HashMap;

use anyhow::Context;
use catalog::CatalogError;
use catalog::app::ProductInput;
use catalog::domain::{Attributes, CategoryName, Description, Money, ProductName, Sku};
use inventory::InventoryError;
use inventory::domain::{Text, WarehouseCode};

use crate::Services;
use crate::progress;

/// The demo warehouse's code.
pub const WAREHOUSE_CODE: &str = "DEMO-MAIN";
/// Who the ledger says added the demo stock.
const ACTOR: &str = "viscount-seed";

/// The category tree: (name, parent name).
const CATEGORIES: &[(&str, Option<&str>)] = &[
    ("Apparel", None),
    ("Shirts", Some("Apparel")),
    ("Jackets", Some("Apparel")),
    ("Home", None),
    ("Kitchen", Some("Home")),
    ("Lighting", Some("Home")),
    ("Outdoor", None),
    ("Camping", Some("Outdoor")),
    ("Bags", Some("Outdoor")),
];

/// Leaf categories and the nouns sold in them.
const NOUNS: &[(&str, &[&str])] = &[
    ("Shirts", &["shirt", "polo", "tee", "henley"]),
    ("Jackets", &["jacket", "parka", "raincoat", "vest"]),
    ("Kitchen", &["kettle", "skillet", "teapot", "mug"]),
    ("Lighting", &["lamp", "lantern", "sconce", "pendant"]),
    ("Camping", &["tent", "stove", "hammock", "tarp"]),
    ("Bags", &["backpack", "duffel", "tote", "satchel"]),
];
const ADJECTIVES: &[&str] = &[
    "classic", "rugged", "compact", "vintage", "modern", "sturdy", "light", "cosy", "bold",
    "quiet", "bright", "handmade",
];
const MATERIALS: &[&str] = &[
    "cotton", "linen", "wool", "canvas", "leather", "steel", "copper", "oak", "nylon", "bamboo",
];
const COLOURS: &[&str] = &[
    "red", "blue", "green", "black", "white", "grey", "olive", "navy", "sand",
];
const SIZES: &[&str] = &["S", "M", "L", "XL"];

/// What a seed run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Categories created now.
    pub categories_created: usize,
    /// Products created now.
    pub products_created: usize,
    /// Skus that got their first stock now.
    pub skus_stocked: usize,
    /// Whether the warehouse was created now.
    pub warehouse_created: bool,
}

/// One generated demo product.
struct DemoProduct {
    sku: String,
    name: String,
    description: String,
    category: &'static str,
    price_cents: i64,
    attributes: serde_json::Value,
    stock: i64,
}

/// The `n`th demo product (0-based); the same `n` always gives the same product.
fn demo_product(n: usize) -> DemoProduct {
    let (category, nouns) = NOUNS[n % NOUNS.len()];
    let noun = nouns[(n / NOUNS.len()) % nouns.len()];
    let adjective = ADJECTIVES[(n * 7 + 3) % ADJECTIVES.len()];
    let material = MATERIALS[(n * 5 + 1) % MATERIALS.len()];
    let colour = COLOURS[(n * 3 + 2) % COLOURS.len()];
    let size = SIZES[n % SIZES.len()];
    let name = format!("{} {material} {noun}", capitalised(adjective));
    let description = format!(
        "A {adjective} {noun} made of {material}, in {colour}. Built to last and easy to \
         care for; a favourite of our {} range (item {}).",
        category.to_lowercase(),
        n + 1
    );
    // Deterministic prices between 5.00 and 250.00, ending in .99 or .49.
    let price_cents =
        500 + ((n as i64 * 7_919) % 245) * 100 + if n.is_multiple_of(2) { 99 } else { 49 };
    // Most products are well stocked; some are low and a few sold out, so the
    // `in_stock` filter and the low-stock report have something to show.
    let stock = match n % 20 {
        0 => 0,
        1 | 2 => 3,
        _ => 20 + (n as i64 * 13) % 80,
    };
    DemoProduct {
        sku: format!("DEMO-{:05}", n + 1),
        name,
        description,
        category,
        price_cents,
        attributes: serde_json::json!({ "colour": colour, "size": size, "material": material }),
        stock,
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Seeds `products` demo products (and their warehouse, categories and stock).
pub async fn demo(services: &Services, products: usize) -> anyhow::Result<SeedReport> {
    let catalog = services
        .get::<catalog::Catalog>()
        .context("the catalog service is not running")?
        .app();
    let inventory = services
        .get::<inventory::Inventory>()
        .context("the inventory service is not running")?
        .app();
    let mut report = SeedReport::default();

    let code = WarehouseCode::try_from(WAREHOUSE_CODE.to_owned())
        .map_err(|e| anyhow::anyhow!("warehouse code: {e}"))?;
    let warehouse_name = Text::<100>::try_from("Demo warehouse".to_owned())
        .map_err(|e| anyhow::anyhow!("warehouse name: {e}"))?;
    let warehouse = match inventory.create_warehouse(code, warehouse_name).await {
        Ok(created) => {
            report.warehouse_created = true;
            created
        }
        Err(InventoryError::WarehouseCodeTaken) => inventory.warehouse(WAREHOUSE_CODE).await?,
        Err(err) => return Err(err).context("cannot create the demo warehouse"),
    };

    // Categories by (name, parent id), so a second run finds the first run's.
    let mut by_name: HashMap<&str, String> = HashMap::new();
    let existing = catalog.categories().await?;
    for (name, parent) in CATEGORIES {
        let parent_id = parent.and_then(|p| by_name.get(p).cloned());
        let found = existing
            .iter()
            .find(|c| c.name == *name && c.parent_id == parent_id)
            .map(|c| c.id.clone());
        let id = match found {
            Some(id) => id,
            None => {
                let category_name = CategoryName::try_from((*name).to_owned())
                    .map_err(|e| anyhow::anyhow!("category {name}: {e}"))?;
                report.categories_created += 1;
                catalog.create_category(category_name, parent_id).await?.id
            }
        };
        by_name.insert(name, id);
    }

    let reason = Text::<200>::try_from("demo stock".to_owned())
        .map_err(|e| anyhow::anyhow!("reason: {e}"))?;
    // A bar over the products (on a terminal only); the caller prints the summary.
    let bar = progress::counted_bar(products as u64, "products");
    for n in 0..products {
        let demo = demo_product(n);
        let sku = Sku::try_from(demo.sku.clone()).map_err(|e| anyhow::anyhow!("sku: {e}"))?;
        let input = ProductInput {
            name: ProductName::try_from(demo.name)
                .map_err(|e| anyhow::anyhow!("{}: name: {e}", demo.sku))?,
            description: Description::try_from(demo.description)
                .map_err(|e| anyhow::anyhow!("{}: description: {e}", demo.sku))?,
            price: Money::price(demo.price_cents, "USD")
                .map_err(|e| anyhow::anyhow!("{}: price: {e}", demo.sku))?,
            category_id: by_name.get(demo.category).cloned(),
            attributes: Attributes::try_from(demo.attributes)
                .map_err(|e| anyhow::anyhow!("{}: attributes: {e}", demo.sku))?,
            variant_of: None,
        };
        match catalog.create(sku.clone(), input).await {
            Ok(_) => report.products_created += 1,
            Err(CatalogError::SkuTaken) => {}
            Err(err) => return Err(err).with_context(|| format!("cannot create {}", demo.sku)),
        }
        // Only a sku that has never held stock gets the demo stock: a level row exists
        // from its first adjustment on, even when it has since sold out.
        if demo.stock > 0 && inventory.stock(&sku).await?.locations.is_empty() {
            inventory
                .adjust(ACTOR, &sku, &warehouse.id, demo.stock, &reason)
                .await
                .with_context(|| format!("cannot stock {}", demo.sku))?;
            report.skus_stocked += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_products_are_valid_and_stable() {
        for n in [0, 1, 2, 19, 20, 199, 9_999] {
            let a = demo_product(n);
            let b = demo_product(n);
            assert_eq!(a.sku, b.sku);
            assert!(Sku::try_from(a.sku.clone()).is_ok(), "{}", a.sku);
            assert!(ProductName::try_from(a.name.clone()).is_ok(), "{}", a.name);
            assert!(Description::try_from(a.description.clone()).is_ok());
            assert!(Money::price(a.price_cents, "USD").is_ok());
            assert!((500..=25_000).contains(&a.price_cents), "{}", a.price_cents);
        }
        assert_eq!(demo_product(0).stock, 0);
        assert_eq!(demo_product(1).stock, 3);
        assert!(demo_product(5).stock >= 20);
        assert_ne!(demo_product(0).sku, demo_product(1).sku);
    }
}
