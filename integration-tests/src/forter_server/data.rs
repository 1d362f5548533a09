//! The orders the local server serves: deterministic, in the shape Forter's plugins send
//! (amounts as strings, nested cart items and payments), with the decision fields of Forter's
//! v2 (`action`) and v3 (`forterDecision`) answers on some of them.

use serde_json::{Value, json};

/// First order id: order `i` (from 1) has id `FIRST_ORDER_ID + i`.
pub const FIRST_ORDER_ID: u64 = 100_000_000;

/// The id of order `i` (from 1).
pub fn order_id(i: u64) -> String {
    (FIRST_ORDER_ID + i).to_string()
}

/// The index of an order id among `orders` orders, if it is one of them.
pub(crate) fn index_of(orders: u64, id: &str) -> Option<u64> {
    let n: u64 = id.parse().ok()?;
    let i = n.checked_sub(FIRST_ORDER_ID)?;
    (1..=orders).contains(&i).then_some(i)
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Cart items of order `i`.
pub fn cart_item_count(i: u64) -> u64 {
    1 + i % 3
}

/// Payments of order `i`.
pub fn payment_count(i: u64) -> u64 {
    if i.is_multiple_of(4) { 2 } else { 1 }
}

/// Recommendations of order `i`.
pub fn recommendation_count(i: u64) -> u64 {
    [0, 1, 0, 2][(i % 4) as usize]
}

/// Whether order `i` has the v3 `forterDecision`.
pub fn has_forter_decision(i: u64) -> bool {
    !i.is_multiple_of(3)
}

/// Whether order `i` has the v2 `action`.
pub fn has_action(i: u64) -> bool {
    i.is_multiple_of(2)
}

fn currency(i: u64) -> &'static str {
    if i.is_multiple_of(3) { "EUR" } else { "USD" }
}

fn item_cents(i: u64, k: u64) -> u64 {
    1990 + 137 * ((i * 7 + k) % 40)
}

fn usd(cents: u64, cur: &str) -> u64 {
    if cur == "EUR" {
        cents * 108 / 100
    } else {
        cents
    }
}

/// Total of order `i` in local currency cents.
pub fn total_cents(i: u64) -> u64 {
    let items: u64 = (0..cart_item_count(i))
        .map(|k| item_cents(i, k) * (1 + k))
        .sum();
    items + delivery_cents(i)
}

fn delivery_cents(i: u64) -> u64 {
    if i.is_multiple_of(2) { 0 } else { 599 }
}

/// The total amount strings of order `i`: (`amountUSD`, `amountLocalCurrency`, `currency`).
pub fn total_amount(i: u64) -> (String, String, &'static str) {
    let cur = currency(i);
    let c = total_cents(i);
    (money(usd(c, cur)), money(c), cur)
}

const DECISIONS: [(&str, &str); 3] = [
    ("APPROVE", "approve"),
    ("DECLINE", "decline"),
    ("NOT_REVIEWED", "not reviewed"),
];

pub(crate) fn decision(i: u64) -> (&'static str, &'static str) {
    DECISIONS[(i % 7 % 3) as usize]
}

pub(crate) fn recommendations(i: u64) -> Vec<&'static str> {
    match recommendation_count(i) {
        0 => vec![],
        1 => vec!["ROUTING_RECOMMENDED"],
        _ => vec!["MONITOR_POTENTIAL_COUPON_ABUSE", "BORDERLINE"],
    }
}

/// Order `i` (from 1), with its decision fields.
pub fn order(i: u64) -> Value {
    const FIRST: [&str; 6] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"];
    const LAST: [&str; 6] = [
        "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson",
    ];
    const CITIES: [(&str, &str, &str, &str); 4] = [
        ("New York", "NY", "US", "10001"),
        ("Berlin", "BE", "DE", "10115"),
        ("Paris", "IDF", "FR", "75001"),
        ("Austin", "TX", "US", "73301"),
    ];
    let cur = currency(i);
    let first = FIRST[(i % 6) as usize];
    let last = LAST[(i * 5 % 6) as usize];
    let email = format!(
        "{}.{}{}@example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        i
    );
    let (city, region, country, zip) = CITIES[(i % 4) as usize];
    let address = json!({
        "address1": format!("{} Main Street", 10 + i), "city": city, "region": region,
        "country": country, "zip": zip, "company": if i.is_multiple_of(5) { json!("Acme Corp") } else { Value::Null },
        "savedData": {"usedSavedData": i % 2 == 1, "choseToSaveData": false},
    });
    let cart: Vec<Value> = (0..cart_item_count(i))
        .map(|k| {
            let c = item_cents(i, k);
            let category = ["Apparel", "Books", "Electronics"][(k % 3) as usize];
            json!({
                "basicItemData": {
                    "price": {"amountLocalCurrency": money(c), "currency": cur},
                    "value": {"amountUSD": money(usd(c, cur))},
                    "productId": format!("sku-{:04}", (i * 13 + k) % 1000),
                    "name": format!("Product {}", (i * 13 + k) % 1000),
                    "type": if k == 2 { "NON_TANGIBLE" } else { "TANGIBLE" },
                    "quantity": (1 + k) as f64,
                    "category": category,
                },
                "itemSpecificData": {"physicalGoods": {"wrapAsGift": k == 1}},
            })
        })
        .collect();
    let total = total_cents(i);
    let mut payments = vec![json!({
        "billingDetails": {
            "personalDetails": {"firstName": first, "lastName": last, "email": email},
            "address": address,
        },
        "amount": {"amountLocalCurrency": money(total), "currency": cur},
        "paymentMethodNickname": "visa",
        "creditCard": {
            "nameOnCard": format!("{first} {last}"), "cardBrand": "VISA", "bin": "411111",
            "lastFourDigits": format!("{:04}", (i * 37) % 10000), "expirationMonth": format!("{:02}", 1 + i % 12),
            "expirationYear": "2030", "countryOfIssuance": country, "cardBank": "Test Bank",
            "verificationResults": {
                "avsFullResult": "Y", "cvvResult": "M", "authorizationCode": format!("A{i:05}"),
                "processorResponseCode": "1000", "processorResponseText": "Approved",
                "eciValue": "05", "cavvResult": "2",
            },
            "paymentGatewayData": {"gatewayName": "braintree", "gatewayTransactionId": format!("bt-{i:08}")},
        },
    })];
    if payment_count(i) == 2 {
        payments.push(json!({
            "amount": {"amountLocalCurrency": "0.00", "currency": cur},
            "paymentMethodNickname": "gift card",
            "paypal": {"payerId": format!("PAYER{i}"), "payerEmail": email, "paymentStatus": "COMPLETED"},
        }));
    }
    let (usd_s, local_s, _) = total_amount(i);
    let (dec_v3, dec_v2) = decision(i);
    let mut o = json!({
        "orderId": order_id(i),
        "orderType": if i.is_multiple_of(5) { "PHONE" } else { "WEB" },
        "timeSentToForter": 1_700_000_000_000u64 + i * 60_000,
        "checkoutTime": 1_700_000_000u64 + i * 60,
        "authorizationStep": if i % 2 == 1 { "PRE_AUTHORIZATION" } else { "POST_AUTHORIZATION" },
        "connectionInformation": {
            "customerIP": format!("203.0.113.{}", i % 250),
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
            "forterTokenCookie": format!("ftc-{i:08x}"),
            "merchantDeviceIdentifier": Value::Null,
        },
        "totalAmount": {"amountUSD": usd_s, "amountLocalCurrency": local_s, "currency": cur},
        "cartItems": cart,
        "primaryDeliveryDetails": {
            "deliveryType": "PHYSICAL", "deliveryMethod": "USPS Ground",
            "deliveryPrice": {"amountLocalCurrency": money(delivery_cents(i)), "currency": cur},
        },
        "primaryRecipient": {
            "personalDetails": {"firstName": first, "lastName": last, "email": email},
            "address": address,
            "phone": [{"phone": format!("+1555{:07}", i)}],
        },
        "accountOwner": {
            "firstName": first, "lastName": last, "email": email, "accountId": format!("acct-{}", i % 17),
            "created": 1_415_273_168u64 + i * 86_400, "pastOrdersCount": i % 9, "pastOrdersSum": "120.50",
        },
        "payment": payments,
        "recommendations": recommendations(i),
    });
    if has_forter_decision(i) {
        o["forterDecision"] = json!(dec_v3);
        o["decisionReason"] = json!(if dec_v3 == "DECLINE" {
            "HIGH_RISK_SIGNALS"
        } else {
            ""
        });
        o["linkToEventInDashboard"] = json!(format!(
            "https://portal.forter.com/dashboard/{}",
            order_id(i)
        ));
    }
    if has_action(i) {
        o["action"] = json!(dec_v2);
        o["reasonCode"] = json!("");
        o["status"] = json!("success");
    }
    o
}
