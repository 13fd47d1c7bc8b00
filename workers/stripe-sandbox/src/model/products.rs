//! Products: the parameters they take (name, description, images, metadata, active, url),
//! the object in the pinned API version's shape, updates (archiving is `active=false`) and
//! list filters.

use super::error::StripeError;
use super::params::{MetadataPatch, Params};
use super::{Filter, Stamp, is_http_url, object};
use serde_json::{Value, json};

/// Stripe accepts at most eight images per product.
const MAX_IMAGES: usize = 8;

/// What a product is created or updated with.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ProductFields {
    name: Option<String>,
    description: Option<Option<String>>,
    images: Option<Vec<String>>,
    metadata: Option<MetadataPatch>,
    active: Option<bool>,
    url: Option<Option<String>>,
}

fn check_url(field: &str, url: &str) -> Result<(), StripeError> {
    if is_http_url(url) {
        Ok(())
    } else {
        Err(StripeError::invalid_value(
            field,
            "url_invalid",
            format!("Not a valid URL: {field}"),
        ))
    }
}

/// Reads the fields of a create (`creating`: `name` is required) or an update.
///
/// # Errors
/// Unknown parameters, a missing or empty name, more than eight images, and URLs that are
/// not http(s).
pub(crate) fn parse(p: &mut Params, creating: bool) -> Result<ProductFields, StripeError> {
    let name = if creating {
        Some(p.required_string("name")?)
    } else {
        match p.string("name")? {
            Some(name) if name.is_empty() => {
                return Err(StripeError::invalid_value(
                    "name",
                    "parameter_invalid_empty",
                    "You passed an empty string for 'name'. We assume empty values are an attempt to unset a parameter; however 'name' cannot be unset.",
                ));
            }
            other => other,
        }
    };
    let images = p.strings("images")?;
    if let Some(list) = &images {
        if list.len() > MAX_IMAGES {
            return Err(StripeError::invalid_value(
                "images",
                "parameter_invalid_array",
                format!("Invalid images: at most {MAX_IMAGES} images are allowed"),
            ));
        }
        for (i, url) in list.iter().enumerate() {
            check_url(&format!("images[{i}]"), url)?;
        }
    }
    let url = p.nullable_string("url")?;
    if let Some(Some(link)) = &url {
        check_url("url", link)?;
    }
    Ok(ProductFields {
        name,
        description: p.nullable_string("description")?,
        images,
        metadata: p.metadata("metadata")?,
        active: p.boolean("active")?,
        url,
    })
}

/// A new product.
pub(crate) fn build(id: &str, fields: ProductFields, stamp: Stamp) -> Value {
    json!({
        "id": id,
        "object": "product",
        "active": fields.active.unwrap_or(true),
        "created": stamp.now,
        "default_price": null,
        "description": fields.description.flatten(),
        "images": fields.images.unwrap_or_default(),
        "livemode": stamp.livemode,
        "marketing_features": [],
        "metadata": MetadataPatch::fresh(fields.metadata.as_ref()),
        "name": fields.name.unwrap_or_default(),
        "package_dimensions": null,
        "shippable": null,
        "statement_descriptor": null,
        "tax_code": null,
        "tax_details": null,
        "type": "service",
        "unit_label": null,
        "updated": stamp.now,
        "url": fields.url.flatten(),
    })
}

/// `existing` with an update applied at `now`.
pub(crate) fn update(existing: &Value, fields: ProductFields, now: i64) -> Value {
    let mut out = existing.clone();
    if let Some(name) = fields.name {
        super::set(&mut out, "name", json!(name));
    }
    if let Some(description) = fields.description {
        super::set(&mut out, "description", json!(description));
    }
    if let Some(images) = fields.images {
        super::set(&mut out, "images", json!(images));
    }
    if let Some(active) = fields.active {
        super::set(&mut out, "active", json!(active));
    }
    if let Some(url) = fields.url {
        super::set(&mut out, "url", json!(url));
    }
    if let Some(patch) = fields.metadata {
        let merged = patch.apply(&object(existing, "metadata"));
        super::set(&mut out, "metadata", Value::Object(merged));
    }
    if out != *existing {
        super::set(&mut out, "updated", json!(now));
    }
    out
}

/// The filters of `GET /v1/products` (`active`).
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    Ok(p.boolean("active")?
        .map(|active| Filter::Eq("$.active", json!(active)))
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        now: 1_800_000_000,
        livemode: true,
    };

    fn params(value: Value) -> Params {
        Params::of(value)
    }

    #[test]
    fn a_new_product_is_active_with_what_it_was_created_with() {
        let mut p = params(
            json!({"name": "Pro", "description": "All features", "images": ["https://img.test/a.png"]}),
        );

        let product = build("prod_1", parse(&mut p, true).unwrap(), STAMP);

        assert_eq!(product["active"], true);
        assert_eq!(product["name"], "Pro");
        assert_eq!(product["description"], "All features");
        assert_eq!(product["images"], json!(["https://img.test/a.png"]));
        assert_eq!(product["livemode"], true);
        assert_eq!(product["updated"], product["created"]);
    }

    #[test]
    fn a_product_needs_a_name_and_cannot_lose_it() {
        assert_eq!(
            parse(&mut params(json!({})), true)
                .unwrap_err()
                .code
                .as_deref(),
            Some("parameter_missing")
        );
        assert_eq!(
            parse(&mut params(json!({"name": ""})), false)
                .unwrap_err()
                .code
                .as_deref(),
            Some("parameter_invalid_empty")
        );
    }

    #[test]
    fn archiving_is_an_update_to_inactive_that_moves_updated() {
        let product = build(
            "prod_1",
            parse(&mut params(json!({"name": "Pro"})), true).unwrap(),
            STAMP,
        );

        let archived = update(
            &product,
            parse(&mut params(json!({"active": "false"})), false).unwrap(),
            STAMP.now + 5,
        );
        let unchanged = update(
            &product,
            parse(&mut params(json!({"name": "Pro"})), false).unwrap(),
            STAMP.now + 5,
        );

        assert_eq!(archived["active"], false);
        assert_eq!(archived["updated"], STAMP.now + 5);
        assert_eq!(unchanged["updated"], STAMP.now);
    }

    #[test]
    fn images_must_be_at_most_eight_http_urls() {
        let nine: Vec<String> = (0..9)
            .map(|i| format!("https://img.test/{i}.png"))
            .collect();

        assert!(parse(&mut params(json!({"name": "x", "images": nine})), true).is_err());
        assert!(
            parse(
                &mut params(json!({"name": "x", "images": ["file:///etc/passwd"]})),
                true
            )
            .is_err()
        );
        assert!(parse(&mut params(json!({"name": "x", "url": "nope"})), true).is_err());
    }

    #[test]
    fn the_active_filter_is_a_boolean() {
        assert_eq!(
            filters(&mut params(json!({"active": "true"}))).unwrap(),
            vec![Filter::Eq("$.active", json!(true))]
        );
        assert!(filters(&mut params(json!({"active": "maybe"}))).is_err());
    }
}
