//! The notifier's intake: what each consumed event means to it (the recipient facts it
//! carries, the notification it asks for, a rider's new ETA), recorded in one transaction per
//! event, idempotent by event id; and the notifier's schema.

use super::{correlation_of, Kind};
use schemas::{aggregate_types, Envelope};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A recipient fact carried by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fact {
    Order {
        order_id: Uuid,
        contact_email: Option<String>,
        customer_id: Uuid,
    },
    PaymentOfOrder {
        payment_id: Uuid,
        order_id: Uuid,
    },
    DeliveryOfOrder {
        delivery_id: Uuid,
        order_id: Uuid,
    },
    Supplier {
        supplier_id: Uuid,
        contact_email: String,
        legal_name: String,
    },
    BatchOfSupplier {
        batch_id: Uuid,
        supplier_id: Uuid,
    },
    CartOfCustomer {
        stream_id: Uuid,
        customer_id: Uuid,
    },
    /// A change to a customer's contact, language, consent or devices (what it names).
    Customer {
        customer_id: Uuid,
        change: CustomerChange,
    },
}

/// What a customer event changes of what the notifier keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CustomerChange {
    Contact {
        email: String,
        phone: Option<String>,
    },
    Language(String),
    Consent {
        marketing: bool,
        email: bool,
        sms: bool,
        push: bool,
    },
    DeviceAdded(String),
    DeviceRemoved(String),
}

/// What one event means to the notifier.
#[derive(Debug, Default)]
pub(super) struct Effects {
    pub(super) facts: Vec<Fact>,
    /// The notification's kind and the id its recipient is found by (order, payment, delivery,
    /// cart stream, batch or supplier id; none for operations).
    pub(super) notification: Option<(Kind, Option<Uuid>)>,
    /// A rider's new ETA: notified only when it is near or moved (decided against what the
    /// customer was last told, in the recording transaction).
    pub(super) eta: Option<(Uuid, chrono::DateTime<chrono::Utc>)>,
}

fn uuid_of(e: &Envelope) -> Result<Uuid, schemas::EnvelopeError> {
    Uuid::parse_str(&e.aggregate_id).map_err(|err| schemas::EnvelopeError::Payload {
        event_type: e.event_type.clone(),
        event_version: e.event_version,
        source: serde::de::Error::custom(format!("aggregate id is not a UUID: {err}")),
    })
}

/// Decodes what matters in `e`; event types the notifier has no use for give nothing.
pub(super) fn effects_of(e: &Envelope) -> Result<Effects, schemas::EnvelopeError> {
    use schemas::{delivery, inventory, order, payment, supplier};
    let decode_as = |types: &[&str]| types.contains(&e.event_type.as_str());
    let mut fx = Effects::default();
    match e.aggregate_type.as_str() {
        aggregate_types::ORDER if decode_as(&[order::PLACED, order::SHIPPED, order::CANCELLED]) => {
            let order_id = uuid_of(e)?;
            match order::OrderEvent::decode(&e.event_type, e.event_version, e.payload.clone())? {
                order::OrderEvent::OrderPlaced(p) => {
                    fx.facts.push(Fact::Order {
                        order_id,
                        contact_email: p.delivery.contact_email.filter(|m| !m.trim().is_empty()),
                        customer_id: schemas::customer::customer_id(&p.customer),
                    });
                    fx.facts.push(Fact::PaymentOfOrder {
                        payment_id: p.payment.payment_id,
                        order_id,
                    });
                    fx.notification = Some((Kind::OrderPlaced, Some(order_id)));
                }
                order::OrderEvent::OrderShipped(p) => fx.facts.push(Fact::DeliveryOfOrder {
                    delivery_id: p.delivery_id,
                    order_id,
                }),
                order::OrderEvent::OrderCancelled(_) => {
                    fx.notification = Some((Kind::OrderCancelled, Some(order_id)));
                }
                _ => {}
            }
        }
        aggregate_types::PAYMENT
            if decode_as(&[
                payment::INITIATED,
                payment::CAPTURED,
                payment::DECLINED,
                payment::REFUND_COMPLETED,
            ]) =>
        {
            let payment_id = uuid_of(e)?;
            let kind = match payment::PaymentEvent::decode(
                &e.event_type,
                e.event_version,
                e.payload.clone(),
            )? {
                payment::PaymentEvent::PaymentInitiated(p) => {
                    fx.facts.push(Fact::PaymentOfOrder {
                        payment_id,
                        order_id: p.order_id,
                    });
                    None
                }
                payment::PaymentEvent::PaymentCaptured(_) => Some(Kind::PaymentCaptured),
                payment::PaymentEvent::PaymentDeclined(_) => Some(Kind::PaymentDeclined),
                payment::PaymentEvent::RefundCompleted(_) => Some(Kind::RefundCompleted),
                _ => None,
            };
            fx.notification = kind.map(|k| (k, Some(payment_id)));
        }
        aggregate_types::DELIVERY
            if decode_as(&[
                delivery::SCHEDULED,
                delivery::PICKED_UP,
                delivery::LOCATION_UPDATED,
                delivery::COMPLETED,
            ]) =>
        {
            let delivery_id = uuid_of(e)?;
            match delivery::DeliveryEvent::decode(
                &e.event_type,
                e.event_version,
                e.payload.clone(),
            )? {
                delivery::DeliveryEvent::DeliveryScheduled(p) => {
                    fx.facts.push(Fact::DeliveryOfOrder {
                        delivery_id,
                        order_id: p.order_id,
                    });
                }
                delivery::DeliveryEvent::DeliveryPickedUp(_) => {
                    fx.notification = Some((Kind::OrderShipped, Some(delivery_id)));
                }
                delivery::DeliveryEvent::DeliveryLocationUpdated(p) => {
                    fx.eta = p.eta.map(|eta| (delivery_id, eta));
                }
                delivery::DeliveryEvent::DeliveryCompleted(_) => {
                    fx.notification = Some((Kind::DeliveryCompleted, Some(delivery_id)));
                }
                _ => {}
            }
        }
        aggregate_types::SUPPLIER
            if decode_as(&[
                supplier::REGISTERED,
                supplier::APPROVED,
                supplier::REJECTED,
                supplier::SUSPENDED,
            ]) =>
        {
            let supplier_id = uuid_of(e)?;
            match supplier::SupplierEvent::decode(
                &e.event_type,
                e.event_version,
                e.payload.clone(),
            )? {
                supplier::SupplierEvent::Registered(r) => fx.facts.push(Fact::Supplier {
                    supplier_id,
                    contact_email: r.contact_email,
                    legal_name: r.legal_name,
                }),
                supplier::SupplierEvent::Approved(_) => {
                    fx.notification = Some((Kind::SupplierApproved, Some(supplier_id)));
                }
                supplier::SupplierEvent::Rejected(_) => {
                    fx.notification = Some((Kind::SupplierRejected, Some(supplier_id)));
                }
                supplier::SupplierEvent::Suspended(_) => {
                    fx.notification = Some((Kind::SupplierSuspended, Some(supplier_id)));
                }
                _ => {}
            }
        }
        aggregate_types::STOCK_ALERT if decode_as(&[inventory::LOW_STOCK]) => {
            inventory::StockAlertEvent::decode(&e.event_type, e.event_version, e.payload.clone())?;
            fx.notification = Some((Kind::LowStock, None));
        }
        aggregate_types::INVENTORY_BATCH
            if decode_as(&[inventory::BATCH_RECEIVED, inventory::BATCH_EXPIRING_SOON]) =>
        {
            let batch_id = uuid_of(e)?;
            match inventory::InventoryEvent::decode(
                &e.event_type,
                e.event_version,
                e.payload.clone(),
            )? {
                inventory::InventoryEvent::BatchReceived(r) => {
                    fx.facts.push(Fact::BatchOfSupplier {
                        batch_id,
                        supplier_id: r.supplier_id,
                    });
                }
                inventory::InventoryEvent::BatchExpiringSoon(_) => {
                    fx.notification = Some((Kind::BatchExpiringSoon, Some(batch_id)));
                }
                _ => {}
            }
        }
        aggregate_types::CUSTOMER => customer_effects(e, &mut fx)?,
        aggregate_types::CART => {
            use schemas::customer::cart::{CartEvent, ABANDONED, OPENED};
            if decode_as(&[OPENED, ABANDONED]) {
                let stream_id = uuid_of(e)?;
                match CartEvent::decode(&e.event_type, e.event_version, e.payload.clone())? {
                    CartEvent::CartOpened(o) => fx.facts.push(Fact::CartOfCustomer {
                        stream_id,
                        customer_id: o.customer_id,
                    }),
                    CartEvent::CartAbandoned(_) => {
                        fx.notification = Some((Kind::CartAbandoned, Some(stream_id)));
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(fx)
}

fn customer_effects(e: &Envelope, fx: &mut Effects) -> Result<(), schemas::EnvelopeError> {
    use schemas::customer::CustomerEvent as C;
    let customer_id = uuid_of(e)?;
    let change = match C::decode(&e.event_type, e.event_version, e.payload.clone())? {
        C::CustomerRegistered(p) | C::CustomerProfileChanged(p) => CustomerChange::Contact {
            email: p.email,
            phone: p.phone,
        },
        C::CustomerPreferencesSet(p) => CustomerChange::Language(p.language),
        C::CustomerConsentSet(c) => CustomerChange::Consent {
            marketing: c.marketing,
            email: c.email,
            sms: c.sms,
            push: c.push,
        },
        C::CustomerDeviceRegistered(d) => CustomerChange::DeviceAdded(d.push_token),
        C::CustomerDeviceRemoved(d) => CustomerChange::DeviceRemoved(d.push_token),
        _ => return Ok(()),
    };
    fx.facts.push(Fact::Customer {
        customer_id,
        change,
    });
    Ok(())
}

/// Creates the `notifier` schema and tables when missing (safe when several start at once).
///
/// # Errors
/// When the database fails.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('freshline.notifier'))")
        .execute(&mut *tx)
        .await?;
    for ddl in [
        "CREATE SCHEMA IF NOT EXISTS notifier",
        "CREATE TABLE IF NOT EXISTS notifier.orders (
            order_id uuid PRIMARY KEY,
            contact_email text,
            recorded_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS notifier.payments (
            payment_id uuid PRIMARY KEY,
            order_id uuid NOT NULL)",
        "CREATE INDEX IF NOT EXISTS payments_by_order ON notifier.payments (order_id)",
        "CREATE TABLE IF NOT EXISTS notifier.deliveries (
            delivery_id uuid PRIMARY KEY,
            order_id uuid NOT NULL)",
        "CREATE INDEX IF NOT EXISTS deliveries_by_order ON notifier.deliveries (order_id)",
        "CREATE TABLE IF NOT EXISTS notifier.suppliers (
            supplier_id uuid PRIMARY KEY,
            contact_email text NOT NULL,
            legal_name text NOT NULL)",
        // The outbox and the dedupe record in one: one row per notified event, for ever.
        "CREATE TABLE IF NOT EXISTS notifier.notifications (
            event_id uuid PRIMARY KEY,
            kind text NOT NULL,
            event_type text NOT NULL,
            event_version integer NOT NULL,
            subject_id uuid,
            payload jsonb NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'gave_up')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            first_seen_at timestamptz NOT NULL DEFAULT now(),
            recipient text,
            sent_at timestamptz,
            last_error text)",
        // Pending ones are due at next_attempt_at; sending ones when their lease ends.
        "CREATE INDEX IF NOT EXISTS notifications_due ON notifier.notifications (next_attempt_at)
            WHERE status IN ('pending', 'sending')",
        "CREATE INDEX IF NOT EXISTS notifications_waiting ON notifier.notifications (subject_id)
            WHERE status = 'pending'",
        // The event's correlation id, so the sender's log lines carry it.
        "ALTER TABLE notifier.notifications ADD COLUMN IF NOT EXISTS correlation_id text",
        // One row per event and channel (rows made before channels are e-mails).
        "ALTER TABLE notifier.notifications ADD COLUMN IF NOT EXISTS channel text NOT NULL DEFAULT 'email'",
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_attribute a
                            ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                           WHERE c.conrelid = 'notifier.notifications'::regclass
                             AND c.contype = 'p' AND a.attname = 'channel') THEN
             ALTER TABLE notifier.notifications DROP CONSTRAINT IF EXISTS notifications_pkey;
             ALTER TABLE notifier.notifications ADD PRIMARY KEY (event_id, channel);
           END IF;
         END $$",
        "ALTER TABLE notifier.orders ADD COLUMN IF NOT EXISTS customer_id uuid",
        "ALTER TABLE notifier.deliveries ADD COLUMN IF NOT EXISTS eta_told timestamptz",
        "ALTER TABLE notifier.deliveries ADD COLUMN IF NOT EXISTS near_told boolean NOT NULL DEFAULT false",
        "CREATE TABLE IF NOT EXISTS notifier.customers (
            customer_id uuid PRIMARY KEY,
            email text,
            phone text,
            language text NOT NULL DEFAULT 'en',
            marketing boolean NOT NULL DEFAULT false,
            by_email boolean NOT NULL DEFAULT true,
            by_sms boolean NOT NULL DEFAULT false,
            by_push boolean NOT NULL DEFAULT false,
            devices text[] NOT NULL DEFAULT '{}')",
        "CREATE TABLE IF NOT EXISTS notifier.batches (
            batch_id uuid PRIMARY KEY,
            supplier_id uuid NOT NULL)",
        "CREATE TABLE IF NOT EXISTS notifier.carts (
            stream_id uuid PRIMARY KEY,
            customer_id uuid NOT NULL)",
    ] {
        sqlx::query(ddl).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Records `e`'s facts and notification (one row per channel it may go out on) in one
/// transaction.
pub(super) async fn record(pool: &PgPool, e: &Envelope, fx: &Effects) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for fact in &fx.facts {
        record_fact(&mut tx, fact).await?;
    }
    let mut notification = fx.notification;
    if let Some((delivery_id, eta)) = fx.eta {
        if eta_worth_telling(&mut tx, delivery_id, eta, e.occurred_at).await? {
            notification = Some((Kind::DeliveryEta, Some(delivery_id)));
        }
    }
    if let Some((kind, subject)) = notification {
        for channel in kind.channels() {
            sqlx::query(
                "INSERT INTO notifier.notifications
                    (event_id, channel, kind, event_type, event_version, subject_id, payload,
                     correlation_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id, channel) DO NOTHING",
            )
            .bind(e.event_id)
            .bind(channel.as_str())
            .bind(kind.as_str())
            .bind(&e.event_type)
            .bind(i32::try_from(e.event_version).unwrap_or(i32::MAX))
            .bind(subject)
            .bind(&e.payload)
            .bind(correlation_of(e))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await
}

/// How close a rider must be (by ETA) to be "near".
const NEAR: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// How far an ETA must move from the one the customer was told to be told again.
const ETA_MOVED: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Whether a rider's new `eta` is news to the customer: the rider is near (once), or the ETA
/// moved by more than 10 minutes from the one last told (the first ETA seen is the baseline).
/// Decided against the delivery's row, locked, so a redelivered update decides the same.
async fn eta_worth_telling(
    tx: &mut PgConnection,
    delivery_id: Uuid,
    eta: chrono::DateTime<chrono::Utc>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, sqlx::Error> {
    let row: Option<(Option<chrono::DateTime<chrono::Utc>>, bool)> = sqlx::query_as(
        "SELECT eta_told, near_told FROM notifier.deliveries WHERE delivery_id = $1 FOR UPDATE",
    )
    .bind(delivery_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((told, near_told)) = row else {
        // The delivery's order is not known yet: nobody to tell.
        return Ok(false);
    };
    let near = !near_told && eta - at <= NEAR;
    let moved = told.is_some_and(|t| (eta - t).abs() > ETA_MOVED);
    let tell = near || moved;
    if tell || told.is_none() {
        sqlx::query(
            "UPDATE notifier.deliveries SET eta_told = $2, near_told = near_told OR $3
             WHERE delivery_id = $1",
        )
        .bind(delivery_id)
        .bind(eta)
        .bind(near)
        .execute(&mut *tx)
        .await?;
    }
    Ok(tell)
}

async fn record_fact(tx: &mut PgConnection, fact: &Fact) -> Result<(), sqlx::Error> {
    // Each fact also wakes the notifications that were waiting for it.
    let wake_order = "UPDATE notifier.notifications SET next_attempt_at = now()
        WHERE status = 'pending' AND next_attempt_at > now() AND (subject_id = $1
           OR subject_id IN (SELECT payment_id FROM notifier.payments WHERE order_id = $1)
           OR subject_id IN (SELECT delivery_id FROM notifier.deliveries WHERE order_id = $1))";
    let wake = "UPDATE notifier.notifications SET next_attempt_at = now()
        WHERE status = 'pending' AND next_attempt_at > now() AND subject_id = $1";
    match fact {
        Fact::Order {
            order_id,
            contact_email,
            customer_id,
        } => {
            sqlx::query(
                "INSERT INTO notifier.orders (order_id, contact_email, customer_id)
                 VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING",
            )
            .bind(order_id)
            .bind(contact_email)
            .bind(customer_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(wake_order)
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
        }
        Fact::PaymentOfOrder {
            payment_id,
            order_id,
        } => {
            sqlx::query(
                "INSERT INTO notifier.payments (payment_id, order_id) VALUES ($1, $2)
                 ON CONFLICT (payment_id) DO NOTHING",
            )
            .bind(payment_id)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(wake).bind(payment_id).execute(&mut *tx).await?;
        }
        Fact::DeliveryOfOrder {
            delivery_id,
            order_id,
        } => {
            sqlx::query(
                "INSERT INTO notifier.deliveries (delivery_id, order_id) VALUES ($1, $2)
                 ON CONFLICT (delivery_id) DO NOTHING",
            )
            .bind(delivery_id)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(wake)
                .bind(delivery_id)
                .execute(&mut *tx)
                .await?;
        }
        Fact::Supplier {
            supplier_id,
            contact_email,
            legal_name,
        } => {
            sqlx::query(
                "INSERT INTO notifier.suppliers (supplier_id, contact_email, legal_name)
                 VALUES ($1, $2, $3) ON CONFLICT (supplier_id) DO NOTHING",
            )
            .bind(supplier_id)
            .bind(contact_email)
            .bind(legal_name)
            .execute(&mut *tx)
            .await?;
            sqlx::query(wake)
                .bind(supplier_id)
                .execute(&mut *tx)
                .await?;
        }
        Fact::BatchOfSupplier {
            batch_id,
            supplier_id,
        } => {
            sqlx::query(
                "INSERT INTO notifier.batches (batch_id, supplier_id) VALUES ($1, $2)
                 ON CONFLICT (batch_id) DO NOTHING",
            )
            .bind(batch_id)
            .bind(supplier_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(wake).bind(batch_id).execute(&mut *tx).await?;
        }
        Fact::CartOfCustomer {
            stream_id,
            customer_id,
        } => {
            sqlx::query(
                "INSERT INTO notifier.carts (stream_id, customer_id) VALUES ($1, $2)
                 ON CONFLICT (stream_id) DO NOTHING",
            )
            .bind(stream_id)
            .bind(customer_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(wake).bind(stream_id).execute(&mut *tx).await?;
        }
        Fact::Customer {
            customer_id,
            change,
        } => record_customer(tx, *customer_id, change).await?,
    }
    Ok(())
}

/// Keeps what messages to a customer need: contact, language, consent, devices (each event
/// sets what it names; a customer's events arrive in order).
async fn record_customer(
    tx: &mut PgConnection,
    customer_id: Uuid,
    change: &CustomerChange,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO notifier.customers (customer_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    let set = |assignments: &str| {
        format!("UPDATE notifier.customers SET {assignments} WHERE customer_id = $1")
    };
    match change {
        CustomerChange::Contact { email, phone } => {
            sqlx::query(&set("email = $2, phone = $3"))
                .bind(customer_id)
                .bind(email)
                .bind(phone)
                .execute(&mut *tx)
                .await?;
        }
        CustomerChange::Language(language) => {
            sqlx::query(&set("language = $2"))
                .bind(customer_id)
                .bind(language)
                .execute(&mut *tx)
                .await?;
        }
        CustomerChange::Consent {
            marketing,
            email,
            sms,
            push,
        } => {
            sqlx::query(&set(
                "marketing = $2, by_email = $3, by_sms = $4, by_push = $5",
            ))
            .bind(customer_id)
            .bind(marketing)
            .bind(email)
            .bind(sms)
            .bind(push)
            .execute(&mut *tx)
            .await?;
        }
        CustomerChange::DeviceAdded(token) => {
            sqlx::query(&set(
                "devices = array_append(array_remove(devices, $2), $2)",
            ))
            .bind(customer_id)
            .bind(token)
            .execute(&mut *tx)
            .await?;
        }
        CustomerChange::DeviceRemoved(token) => {
            sqlx::query(&set("devices = array_remove(devices, $2)"))
                .bind(customer_id)
                .bind(token)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}
