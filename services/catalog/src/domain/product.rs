//! Products: the [`Product`] aggregate (a sellable item with its sku, price and
//! attributes, or a variant of another product), its one change ([`Product::revise`],
//! which bumps the version the ETag is made of), the rule of variants, and the events
//! its changes announce.

use contracts::catalog::{
    PriceChanged, ProductCreated, ProductDeleted, ProductFacts, ProductOutOfStock, ProductUpdated,
};

use super::{Attributes, Description, Money, ProductName, Sku};

/// A validated product body: everything an admin sets on a product but its sku.
#[derive(Debug, Clone)]
pub struct ProductInput {
    /// Name.
    pub name: ProductName,
    /// Description.
    pub description: Description,
    /// Price.
    pub price: Money,
    /// Category.
    pub category_id: Option<String>,
    /// Attributes.
    pub attributes: Attributes,
    /// Parent product.
    pub variant_of: Option<String>,
}

/// A product.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Id.
    pub id: String,
    /// Unique sku, fixed at creation.
    pub sku: Sku,
    /// Name.
    pub name: ProductName,
    /// Description.
    pub description: Description,
    /// Price.
    pub price: Money,
    /// Category.
    pub category_id: Option<String>,
    /// Attributes.
    pub attributes: Attributes,
    /// The product this one is a variant of.
    pub variant_of: Option<String>,
    /// Whether inventory last reported units available.
    pub in_stock: bool,
    /// Bumped on every change (the ETag).
    pub version: i64,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// What a revision of a product announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The product's facts now.
    pub updated: ProductUpdated,
    /// The price before and after, when it changed.
    pub price_changed: Option<PriceChanged>,
}

impl Product {
    /// A new product (version 1, no stock reported yet).
    pub fn create(id: String, sku: Sku, input: ProductInput, now: i64) -> Self {
        Self {
            id,
            sku,
            name: input.name,
            description: input.description,
            price: input.price,
            category_id: input.category_id,
            attributes: input.attributes,
            variant_of: input.variant_of,
            in_stock: false,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Replaces every field an admin sets (not the id or sku) and bumps the version:
    /// what the change announces. The version it had is what the store's update expects
    /// to find.
    pub fn revise(&mut self, input: ProductInput, now: i64) -> Revision {
        let old_price = std::mem::replace(&mut self.price, input.price);
        self.name = input.name;
        self.description = input.description;
        self.category_id = input.category_id;
        self.attributes = input.attributes;
        self.variant_of = input.variant_of;
        self.version += 1;
        self.updated_at = now;
        let price_changed = (old_price != self.price).then(|| PriceChanged {
            product_id: self.id.clone(),
            sku: self.sku.as_str().to_owned(),
            old_price,
            new_price: self.price.clone(),
        });
        Revision {
            updated: ProductUpdated(self.facts()),
            price_changed,
        }
    }

    /// Whether this product may be the parent of the product `child` (`None`: one not
    /// created yet): only a product that is not itself a variant, and never itself.
    pub fn may_parent(&self, child: Option<&str>) -> bool {
        self.variant_of.is_none() && child != Some(self.id.as_str())
    }

    /// What ordering and others keep of it.
    pub fn facts(&self) -> ProductFacts {
        ProductFacts {
            product_id: self.id.clone(),
            sku: self.sku.as_str().to_owned(),
            name: self.name.as_str().to_owned(),
            price: self.price.clone(),
            category_id: self.category_id.clone(),
            variant_of: self.variant_of.clone(),
        }
    }

    /// `catalog.product.created`.
    pub fn created_event(&self) -> ProductCreated {
        ProductCreated(self.facts())
    }

    /// `catalog.product.out_of_stock`, for when its sku's available units reached zero.
    pub fn out_of_stock_event(&self) -> ProductOutOfStock {
        ProductOutOfStock {
            product_id: self.id.clone(),
            sku: self.sku.as_str().to_owned(),
            name: self.name.as_str().to_owned(),
            variant_of: self.variant_of.clone(),
        }
    }

    /// `catalog.product.deleted`.
    pub fn deleted_event(&self) -> ProductDeleted {
        ProductDeleted {
            product_id: self.id.clone(),
            sku: self.sku.as_str().to_owned(),
        }
    }

    /// Its searchable text.
    pub fn text(&self) -> ProductText {
        ProductText {
            id: self.id.clone(),
            name: self.name.as_str().to_owned(),
            description: self.description.as_str().to_owned(),
            attributes: self.attributes.clone(),
        }
    }
}

/// The searchable text of a product (what the search index holds of it).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductText {
    /// Product id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Attributes.
    pub attributes: Attributes,
}

/// Which products a listing shows; every filter optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Only these categories (a category and its descendants).
    pub categories: Option<Vec<String>>,
    /// Lowest price (minor units).
    pub min_price: Option<i64>,
    /// Highest price (minor units).
    pub max_price: Option<i64>,
    /// Only products with (or without) stock.
    pub in_stock: Option<bool>,
    /// Only these ids (search results).
    pub ids: Option<Vec<String>>,
    /// Only the variants of this product.
    pub variant_of: Option<String>,
    /// Only the products of these skus.
    pub skus: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(amount: i64, variant_of: Option<&str>) -> ProductInput {
        ProductInput {
            name: ProductName::try_from("Enamel mug".to_owned()).expect("name"),
            description: Description::try_from(String::new()).expect("description"),
            price: Money::price(amount, "USD").expect("price"),
            category_id: None,
            attributes: Attributes::empty(),
            variant_of: variant_of.map(str::to_owned),
        }
    }

    fn product(variant_of: Option<&str>) -> Product {
        Product::create(
            "p-1".into(),
            Sku::try_from("MUG-1".to_owned()).expect("sku"),
            input(1299, variant_of),
            10,
        )
    }

    #[test]
    fn a_new_product_is_version_one_without_stock() {
        let p = product(None);
        assert_eq!(
            (p.version, p.in_stock, p.created_at, p.updated_at),
            (1, false, 10, 10)
        );
        assert_eq!(p.created_event().0.sku, "MUG-1");
        assert_eq!(p.deleted_event().product_id, "p-1");
    }

    #[test]
    fn a_revision_bumps_the_version_and_announces_a_new_price_only() {
        // (new amount, price change announced)
        let cases = [(1299, None), (1499, Some((1299, 1499)))];
        for (amount, announced) in cases {
            let mut p = product(None);
            let revision = p.revise(input(amount, None), 20);
            assert_eq!((p.version, p.updated_at, p.created_at), (2, 20, 10));
            assert_eq!(revision.updated.0.price.amount, amount);
            assert_eq!(
                revision
                    .price_changed
                    .map(|c| (c.old_price.amount, c.new_price.amount)),
                announced,
                "{amount}"
            );
        }
    }

    #[test]
    fn only_a_product_that_is_not_a_variant_parents_others() {
        // (parent's own parent, child, allowed)
        let cases = [
            (None, None, true),
            (None, Some("p-2"), true),
            (None, Some("p-1"), false),
            (Some("p-0"), None, false),
            (Some("p-0"), Some("p-2"), false),
        ];
        for (grandparent, child, allowed) in cases {
            assert_eq!(
                product(grandparent).may_parent(child),
                allowed,
                "{grandparent:?} parenting {child:?}"
            );
        }
    }
}
