//! Running one step of a saga: the commands it sends to command-api, the gateway calls, and
//! what each answer means for the saga's state. Every call carries an idempotency key made of
//! the order id and the step (and the batch, round or refund where a step repeats), so running
//! a step again after a crash is answered from the first run.

use super::machine::{RefundTask, ReservationStatus, Saga, Step};
use super::SagaConfig;
use crate::commands::{CallError, Cause, CommandClient, Outcome};
use crate::payments::{AuthorizeRequest, GatewayError, GatewayOutcome, PaymentGateway};
use chrono::{DateTime, Utc};
use domain::catalog_values::{BatchId, PositiveQuantity, Quantity};
use domain::fulfilment_values::{GeoPoint, RiderId};
use domain::inventory::allocation::{allocate_fefo, BatchCandidate};
use domain::rider::{nearest_rider, RiderCandidate};
use rust_decimal::Decimal;
use schemas::api::{
    calls, AssignBody, AssignmentBody, BookingBody, Call, CancelPaymentBody, CompensateBody,
    DeclinedBody, DeliverBody, FreeReasonBody, GatewayResultBody, InitiateBody, MoneyBody,
    PaidBody, ReceiveBatchBody, RecordRefundBody, RefundCompletedBody, ReserveBody, SagaRefundBody,
    ScheduleBody, ShipBody,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// How a step went, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The state moved on; the next step can run at once.
    Done,
    /// Nothing to do yet (e.g. no rider free); look again after this.
    RetryIn(chrono::TimeDelta),
}

/// Why a step did not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepError {
    /// Worth retrying with backoff: network, timeouts, 5xx, 429, the database.
    Transient(String),
    /// A fault: an answer the step has no branch for (a bug or a misconfiguration, e.g. an
    /// expired token or a missing scope): never a "no"; retried with backoff and reported.
    Stuck(String),
}

pub(crate) struct Runner {
    pub(crate) pool: PgPool,
    pub(crate) api: CommandClient,
    pub(crate) gateway: Arc<dyn PaymentGateway>,
    pub(crate) cfg: SagaConfig,
}

fn transient(e: impl std::fmt::Display) -> StepError {
    StepError::Transient(e.to_string())
}

fn stuck(step: &str, status: u16, code: &str, problem: &Value) -> StepError {
    StepError::Stuck(format!("{step}: {status} {code}: {problem}"))
}

fn money(minor: i64, currency: &str) -> MoneyBody {
    MoneyBody {
        amount_minor: minor,
        currency: currency.to_owned(),
    }
}

impl Runner {
    async fn post<B: Serialize>(
        &self,
        call: Call<B>,
        key: &str,
        cause: Cause<'_>,
        refusals: &[&str],
    ) -> Result<Outcome, StepError> {
        self.api
            .send(&call, key, cause, refusals)
            .await
            .map_err(|e| match e {
                CallError::Transient(t) => StepError::Transient(t),
                CallError::Fault(f) => StepError::Stuck(format!("{}: {f}", call.path)),
            })
    }

    /// Sends `call`, which the step expects to be done: any refusal is a fault.
    async fn expect_done<B: Serialize>(
        &self,
        what: &str,
        call: Call<B>,
        key: &str,
        cause: Cause<'_>,
    ) -> Result<Value, StepError> {
        match self.post(call, key, cause, &[]).await? {
            Outcome::Done(body) => Ok(body),
            refused => Err(unexpected(what, refused)),
        }
    }

    /// Runs `step`, recording its effect in `saga`.
    pub(crate) async fn run(
        &self,
        saga: &mut Saga,
        step: &Step,
        cause: Cause<'_>,
    ) -> Result<Progress, StepError> {
        let o = saga.order_id;
        let key = |suffix: &str| format!("fulfil:{o}:{suffix}");
        match step {
            Step::Allocate => self.allocate(saga).await,
            Step::Reserve { batch_id } => {
                let Some(r) = saga
                    .reservations
                    .iter()
                    .find(|r| r.batch_id == *batch_id)
                    .cloned()
                else {
                    return Ok(Progress::Done);
                };
                let out = self
                    .post(
                        calls::reserve_stock(
                            *batch_id,
                            ReserveBody {
                                order_id: o,
                                quantity: number(&r.quantity)?,
                            },
                        ),
                        &key(&format!("reserve:{batch_id}:{}", r.round)),
                        cause,
                        &[
                            "insufficient_stock",
                            "batch_expired",
                            "not_found",
                            "reservation_mismatch",
                            "reservation_released",
                        ],
                    )
                    .await?;
                let status = match out {
                    Outcome::Done(_) => ReservationStatus::Reserved,
                    // Less is left than the read model showed: take what the batch says it
                    // has, and plan the rest on the next batch.
                    Outcome::Refused { code, problem, .. }
                        if code == "insufficient_stock"
                            && problem["available"]
                                .as_str()
                                .and_then(|a| a.parse::<Decimal>().ok())
                                .is_some_and(|a| a > Decimal::ZERO)
                            && saga.allocation_round < super::machine::MAX_ALLOCATION_ROUNDS =>
                    {
                        saga.allocation_round += 1;
                        let round = saga.allocation_round;
                        if let Some(r) = saga
                            .reservations
                            .iter_mut()
                            .find(|r| r.batch_id == *batch_id)
                        {
                            r.quantity = problem["available"].as_str().unwrap_or("0").to_owned();
                            r.round = round;
                        }
                        ReservationStatus::Planned
                    }
                    Outcome::Refused { .. } => {
                        // Stock moved since the read model was read (or the batch expired):
                        // plan again for what is missing.
                        saga.allocation_round += 1;
                        if saga.allocation_round > super::machine::MAX_ALLOCATION_ROUNDS {
                            saga.give_up(
                                "out_of_stock",
                                Some("stock kept moving while reserving".into()),
                            );
                        }
                        ReservationStatus::Refused
                    }
                };
                set_status(saga, *batch_id, status);
                Ok(Progress::Done)
            }
            Step::InitiatePayment => {
                match self
                    .post(
                        calls::initiate_payment(InitiateBody { order_id: o }),
                        &key("payment"),
                        cause,
                        &["already_exists"],
                    )
                    .await?
                {
                    Outcome::Done(_) => saga.payment_initiated = true,
                    Outcome::Refused { code, .. } if code == "already_exists" => {
                        saga.payment_initiated = true;
                    }
                    refused => return Err(unexpected("initiate payment", refused)),
                }
                Ok(Progress::Done)
            }
            Step::Authorize => {
                let answer = self
                    .gateway
                    .authorize(AuthorizeRequest {
                        idempotency_key: key("authorize"),
                        payment_id: saga.payment_id,
                        card_token: saga.card_token.clone().unwrap_or_default(),
                        amount_minor: saga.total_minor,
                        currency: saga.currency.clone(),
                    })
                    .await;
                match gateway_answer(answer)? {
                    GatewayOutcome::Approved { reference } => {
                        self.expect_done(
                            "authorized",
                            calls::payment_authorized(
                                saga.payment_id,
                                GatewayResultBody {
                                    gateway_ref: reference.clone(),
                                    amount: money(saga.total_minor, &saga.currency),
                                },
                            ),
                            &key("authorized"),
                            cause,
                        )
                        .await?;
                        saga.authorization_ref = Some(reference);
                    }
                    GatewayOutcome::Declined { code, reason } => {
                        self.decline(saga, &code, &reason, cause).await?;
                    }
                }
                Ok(Progress::Done)
            }
            Step::Capture => {
                let auth = saga.authorization_ref.clone().unwrap_or_default();
                let answer = self
                    .gateway
                    .capture(&key("capture"), &auth, saga.total_minor)
                    .await;
                match gateway_answer(answer)? {
                    GatewayOutcome::Approved { reference } => {
                        self.expect_done(
                            "captured",
                            calls::payment_captured(
                                saga.payment_id,
                                GatewayResultBody {
                                    gateway_ref: reference.clone(),
                                    amount: money(saga.total_minor, &saga.currency),
                                },
                            ),
                            &key("captured"),
                            cause,
                        )
                        .await?;
                        saga.capture_ref = Some(reference);
                    }
                    GatewayOutcome::Declined { code, reason } => {
                        self.decline(saga, &code, &reason, cause).await?;
                    }
                }
                Ok(Progress::Done)
            }
            Step::MarkPaid => {
                let amount = if saga.by_card() { saga.total_minor } else { 0 };
                let out = self
                    .post(
                        calls::order_paid(
                            o,
                            PaidBody {
                                payment_id: saga.payment_id,
                                amount: money(amount, &saga.currency),
                            },
                        ),
                        &key("paid"),
                        cause,
                        &["invalid_transition"],
                    )
                    .await?;
                self.order_answer(saga, out, "mark paid", |s| s.order_paid = true)
            }
            Step::BookSlot => {
                match self
                    .post(
                        calls::book_slot(saga.slot_id, BookingBody { order_id: o }),
                        &key("slot"),
                        cause,
                        &["slot_full", "slot_closed", "not_found"],
                    )
                    .await?
                {
                    Outcome::Done(_) => saga.slot_booked = true,
                    Outcome::Refused { code, problem, .. }
                        if code == "slot_full" || code == "slot_closed" || code == "not_found" =>
                    {
                        saga.give_up(
                            "no_delivery_capacity",
                            Some(problem["detail"].as_str().unwrap_or(&code).to_owned()),
                        );
                    }
                    refused => return Err(unexpected("book slot", refused)),
                }
                Ok(Progress::Done)
            }
            Step::ScheduleDelivery => {
                let cold = saga.reservations.iter().any(|r| {
                    r.cold_chain
                        && matches!(
                            r.status,
                            ReservationStatus::Reserved | ReservationStatus::Committed
                        )
                });
                let call = calls::schedule_delivery(ScheduleBody {
                    order_id: o,
                    cold_chain: cold,
                });
                let body = self
                    .expect_done("schedule delivery", call, &key("delivery"), cause)
                    .await?;
                saga.cold_chain = cold;
                saga.delivery_id = body["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
                if saga.delivery_id.is_none() {
                    return Err(StepError::Stuck(format!(
                        "schedule delivery answered {body}"
                    )));
                }
                Ok(Progress::Done)
            }
            Step::AssignRider => self.assign_rider(saga, cause).await,
            Step::RecordRider => {
                let (Some(d), Some((rider, distance, _))) = (saga.delivery_id, saga.rider) else {
                    return Ok(Progress::Done);
                };
                match self
                    .post(
                        calls::record_delivery_rider(
                            d,
                            AssignBody {
                                rider_id: rider,
                                distance_m: distance,
                            },
                        ),
                        &key(&format!("record-rider:{rider}:{distance}")),
                        cause,
                        &["already_assigned"],
                    )
                    .await?
                {
                    Outcome::Done(_) => saga.rider = Some((rider, distance, true)),
                    // A crash after recording another rider lost it from the saga's state: that
                    // one carries the delivery; the rider taken since is freed with the rest
                    // when the delivery ends (every rider holding it is released).
                    Outcome::Refused { code, problem, .. } if code == "already_assigned" => {
                        let recorded = problem["rider_id"]
                            .as_str()
                            .and_then(|r| Uuid::parse_str(r).ok())
                            .ok_or_else(|| {
                                StepError::Stuck(format!("already assigned: {problem}"))
                            })?;
                        saga.rider = Some((recorded, 0, true));
                    }
                    refused => return Err(unexpected("record rider", refused)),
                }
                Ok(Progress::Done)
            }
            Step::Commit { batch_id } => {
                let out = self
                    .post(
                        calls::commit_reservation(*batch_id, o),
                        &key(&format!("commit:{batch_id}")),
                        cause,
                        &["reservation_released"],
                    )
                    .await?;
                match out {
                    Outcome::Done(_) => set_status(saga, *batch_id, ReservationStatus::Committed),
                    Outcome::Refused { code, .. } if code == "reservation_released" => {
                        // The batch expired (releasing the reservation) before packing: that
                        // stock never left.
                        tracing::warn!(order_id = %o, %batch_id, "reservation released before packing (batch expired)");
                        set_status(saga, *batch_id, ReservationStatus::Released);
                    }
                    refused => return Err(unexpected("commit", refused)),
                }
                Ok(Progress::Done)
            }
            Step::Ship => {
                let (Some(d), Some((rider, ..))) = (saga.delivery_id, saga.rider) else {
                    return Ok(Progress::Done);
                };
                let out = self
                    .post(
                        calls::ship_order(
                            o,
                            ShipBody {
                                delivery_id: d,
                                rider_id: rider,
                            },
                        ),
                        &key("ship"),
                        cause,
                        &["invalid_transition"],
                    )
                    .await?;
                self.order_answer(saga, out, "ship", |s| s.shipped = true)
            }
            Step::CaptureCash => {
                let reference = format!("cod:{}", saga.delivery_id.unwrap_or_default());
                self.expect_done(
                    "captured",
                    calls::payment_captured(
                        saga.payment_id,
                        GatewayResultBody {
                            gateway_ref: reference.clone(),
                            amount: money(saga.total_minor, &saga.currency),
                        },
                    ),
                    &key("cash"),
                    cause,
                )
                .await?;
                saga.capture_ref = Some(reference);
                Ok(Progress::Done)
            }
            Step::DeliverOrder => {
                let Some(delivery_id) = saga.delivery_id else {
                    return Err(StepError::Stuck("deliver an order with no delivery".into()));
                };
                let out = self
                    .post(
                        calls::deliver_order(o, DeliverBody { delivery_id }),
                        &key("deliver"),
                        cause,
                        &["invalid_transition"],
                    )
                    .await?;
                self.order_answer(saga, out, "deliver", |s| s.order_delivered = true)
            }
            Step::ReleaseRider => {
                let Some(d) = saga.delivery_id else {
                    saga.rider_released = true;
                    return Ok(Progress::Done);
                };
                // The saga's rider, and any other still holding this delivery: a crash between
                // assigning a rider and recording it can leave one behind.
                let schema = &self.cfg.read_schema;
                let mut riders: Vec<Uuid> = sqlx::query_scalar(&format!(
                    "SELECT id FROM {schema}.riders WHERE current_delivery = $1"
                ))
                .bind(d)
                .fetch_all(&self.pool)
                .await
                .map_err(transient)?;
                if let Some((rider, ..)) = saga.rider {
                    if !riders.contains(&rider) {
                        riders.push(rider);
                    }
                }
                for rider in riders {
                    self.expect_done(
                        "release rider",
                        calls::release_rider(rider, d),
                        &key(&format!("release-rider:{rider}")),
                        cause,
                    )
                    .await?;
                }
                saga.rider_released = true;
                Ok(Progress::Done)
            }
            Step::Refund { refund_id } => self.refund(saga, *refund_id, cause).await,
            Step::CancelOrder => {
                let Some(c) = saga.cancel.clone() else {
                    return Ok(Progress::Done);
                };
                let out = self
                    .post(
                        calls::compensate_order(
                            o,
                            CompensateBody {
                                reason: c.reason,
                                detail: c.detail,
                            },
                        ),
                        &key("cancel"),
                        cause,
                        &["invalid_transition"],
                    )
                    .await?;
                match out {
                    Outcome::Done(_) => {}
                    Outcome::Refused { code, problem, .. } if code == "invalid_transition" => {
                        // Delivered or shipped meanwhile: there is nothing to cancel.
                        tracing::warn!(order_id = %o, %problem, "order could not be cancelled");
                    }
                    refused => return Err(unexpected("cancel order", refused)),
                }
                if let Some(c) = saga.cancel.as_mut() {
                    c.order_recorded = true;
                }
                Ok(Progress::Done)
            }
            Step::SettlePayment => self.settle_payment(saga, cause).await,
            Step::Release { batch_id } => {
                match self
                    .post(
                        calls::release_reservation(*batch_id, o),
                        &key(&format!("release:{batch_id}")),
                        cause,
                        &["reservation_committed", "not_found", "no_reservation"],
                    )
                    .await?
                {
                    Outcome::Done(_) => set_status(saga, *batch_id, ReservationStatus::Released),
                    // Committed meanwhile (packed): it is returned by policy instead.
                    Outcome::Refused { code, .. } if code == "reservation_committed" => {
                        set_status(saga, *batch_id, ReservationStatus::Committed);
                    }
                    // Never made, or gone with its batch: nothing is held.
                    Outcome::Refused { code, .. }
                        if code == "not_found" || code == "no_reservation" =>
                    {
                        set_status(saga, *batch_id, ReservationStatus::Released);
                    }
                    refused => return Err(unexpected("release", refused)),
                }
                Ok(Progress::Done)
            }
            Step::ReturnStock { batch_id } => self.return_stock(saga, *batch_id, cause).await,
            Step::ReleaseSlot => {
                if saga.slot_booked {
                    self.expect_done(
                        "release slot",
                        calls::release_slot(saga.slot_id, o),
                        &key("release-slot"),
                        cause,
                    )
                    .await?;
                }
                if let Some(c) = saga.cancel.as_mut() {
                    c.slot_released = true;
                }
                Ok(Progress::Done)
            }
            Step::CancelDelivery => {
                if let Some(d) = saga.delivery_id {
                    let reason = saga
                        .cancel
                        .as_ref()
                        .map_or("cancelled", |c| c.reason.as_str());
                    match self
                        .post(
                            calls::cancel_delivery(
                                d,
                                FreeReasonBody {
                                    reason: format!("order cancelled: {reason}"),
                                },
                            ),
                            &key("cancel-delivery"),
                            cause,
                            &["invalid_transition", "not_found"],
                        )
                        .await?
                    {
                        Outcome::Done(_) => {}
                        // Already on its way or gone: the delivery's own outcome stands.
                        Outcome::Refused { code, .. }
                            if code == "invalid_transition" || code == "not_found" => {}
                        refused => return Err(unexpected("cancel delivery", refused)),
                    }
                }
                if let Some(c) = saga.cancel.as_mut() {
                    c.delivery_closed = true;
                }
                Ok(Progress::Done)
            }
        }
    }

    async fn decline(
        &self,
        saga: &mut Saga,
        code: &str,
        reason: &str,
        cause: Cause<'_>,
    ) -> Result<(), StepError> {
        self.expect_done(
            "declined",
            calls::payment_declined(
                saga.payment_id,
                DeclinedBody {
                    code: code.to_owned(),
                    reason: if reason.is_empty() { code } else { reason }.to_owned(),
                },
            ),
            &format!("fulfil:{}:declined", saga.order_id),
            cause,
        )
        .await?;
        saga.give_up("payment_failed", Some(format!("{code}: {reason}")));
        if let Some(c) = saga.cancel.as_mut() {
            c.payment_settled = saga.authorization_ref.is_none();
        }
        Ok(())
    }

    /// An order command's answer: done, or cancelled meanwhile (its event will say why).
    fn order_answer(
        &self,
        saga: &mut Saga,
        out: Outcome,
        what: &str,
        done: impl FnOnce(&mut Saga),
    ) -> Result<Progress, StepError> {
        match out {
            Outcome::Done(_) => {
                done(saga);
                Ok(Progress::Done)
            }
            Outcome::Refused { code, problem, .. }
                if code == "invalid_transition" && problem["current_status"] == "cancelled" =>
            {
                saga.give_up(
                    "customer_request",
                    Some("cancelled during fulfilment".into()),
                );
                if let Some(c) = saga.cancel.as_mut() {
                    c.order_recorded = true;
                }
                Ok(Progress::Done)
            }
            refused => Err(unexpected(what, refused)),
        }
    }

    async fn allocate(&self, saga: &mut Saga) -> Result<Progress, StepError> {
        let schema = &self.cfg.read_schema;
        for line in saga.lines.clone() {
            let Ok(want) = line.quantity.parse::<Decimal>() else {
                saga.give_up("out_of_stock", Some("unreadable quantity".into()));
                return Ok(Progress::Done);
            };
            let need = want - saga.held(line.product_id);
            if need <= Decimal::ZERO {
                continue;
            }
            // A batch holds one reservation per order, and one that refused has nothing left:
            // the rest comes from batches this order has not touched.
            let taken: Vec<Uuid> = saga.reservations.iter().map(|r| r.batch_id).collect();
            let rows: Vec<(Uuid, DateTime<Utc>, String, bool)> = sqlx::query_as(&format!(
                "SELECT id, expires_at, trim_scale(on_hand - reserved)::text, cold_chain
                   FROM {schema}.batches
                  WHERE product_id = $1 AND warehouse_id = $2 AND status = 'active'
                    AND on_hand > reserved AND NOT (id = ANY($3))"
            ))
            .bind(line.product_id)
            .bind(saga.warehouse_id)
            .bind(&taken)
            .fetch_all(&self.pool)
            .await
            .map_err(transient)?;
            let candidates: Vec<BatchCandidate> = rows
                .iter()
                .filter_map(|(id, expires_at, available, _)| {
                    Some(BatchCandidate {
                        batch_id: BatchId(*id),
                        expires_at: *expires_at,
                        available: Quantity::try_from(available.as_str()).ok()?,
                    })
                })
                .collect();
            let Some(need) = Quantity::try_from(need)
                .ok()
                .and_then(|q| PositiveQuantity::try_from(q).ok())
            else {
                continue;
            };
            let plan = allocate_fefo(need, saga.slot_ends_at, &candidates);
            if !plan.is_complete() {
                saga.give_up(
                    "out_of_stock",
                    Some(format!(
                        "product {}: {} short in the warehouse",
                        line.product_id, plan.shortfall
                    )),
                );
                return Ok(Progress::Done);
            }
            // One batch at a time, earliest expiry first: if it has less than the read model
            // showed, its refusal says how much, and the next plan takes the rest elsewhere.
            if let Some(l) = plan.lines.into_iter().next() {
                let cold = rows.iter().any(|(id, _, _, c)| *id == l.batch_id.0 && *c);
                saga.reservations.push(super::machine::Reservation {
                    batch_id: l.batch_id.0,
                    product_id: line.product_id,
                    quantity: l.quantity.to_string(),
                    cold_chain: cold,
                    round: saga.allocation_round,
                    status: ReservationStatus::Planned,
                });
            }
        }
        Ok(Progress::Done)
    }

    async fn assign_rider(&self, saga: &mut Saga, cause: Cause<'_>) -> Result<Progress, StepError> {
        let Some(delivery) = saga.delivery_id else {
            return Ok(Progress::Done);
        };
        let schema = &self.cfg.read_schema;
        let rows: Vec<RiderRow> = sqlx::query_as(&format!(
            "SELECT id, lat_e6, lon_e6, cold_chain_capable, current_delivery FROM {schema}.riders
              WHERE current_delivery = $1
                 OR (available AND current_delivery IS NULL AND lat_e6 IS NOT NULL)
              LIMIT 2000"
        ))
        .bind(delivery)
        .fetch_all(&self.pool)
        .await
        .map_err(transient)?;
        let Ok(warehouse) = GeoPoint::from_e6(
            saga.warehouse_location.lat_e6,
            saga.warehouse_location.lon_e6,
        ) else {
            return Err(StepError::Stuck("warehouse location out of range".into()));
        };
        // A rider already holding this delivery (a crash after assigning) comes first.
        let mut ranked: Vec<(Uuid, u32)> = rows
            .iter()
            .filter(|r| r.4 == Some(delivery))
            .map(|r| {
                let d =
                    r.1.zip(r.2)
                        .and_then(|(lat, lon)| GeoPoint::from_e6(lat, lon).ok())
                        .map_or(0, |p| p.distance_m(warehouse));
                (r.0, d)
            })
            .collect();
        let candidates: Vec<RiderCandidate> = rows
            .iter()
            .filter(|r| r.4.is_none())
            .filter_map(|(id, lat, lon, cold, _)| {
                Some(RiderCandidate {
                    rider_id: RiderId(*id),
                    location: GeoPoint::from_e6((*lat)?, (*lon)?).ok()?,
                    cold_chain_capable: *cold,
                })
            })
            .collect();
        // Nearest first; but sagas deciding at once all see the same free riders in the read
        // model, so each starts at its own place among the few nearest (by its order id)
        // instead of all queueing for the single nearest one.
        let mut nearest: Vec<(Uuid, u32)> = nearest_rider(warehouse, saga.cold_chain, &candidates)
            .into_iter()
            .map(|(id, d)| (id.0, d))
            .collect();
        let spread = nearest.len().min(8);
        if spread > 1 {
            let start = usize::try_from(saga.order_id.as_u128() % spread as u128).unwrap_or(0);
            nearest[..spread].rotate_left(start);
        }
        ranked.extend(nearest);
        for (rider, distance) in ranked.into_iter().take(10) {
            match self
                .post(
                    calls::assign_rider(
                        rider,
                        AssignmentBody {
                            delivery_id: delivery,
                            order_id: saga.order_id,
                            cold_chain: saga.cold_chain,
                        },
                    ),
                    &format!(
                        "fulfil:{}:rider:{rider}:{}",
                        saga.order_id, saga.rider_round
                    ),
                    cause,
                    &[
                        "rider_unavailable",
                        "rider_busy",
                        "not_cold_chain_capable",
                        "not_found",
                        "invalid_transition",
                    ],
                )
                .await?
            {
                Outcome::Done(_) => {
                    saga.rider = Some((rider, distance, false));
                    return Ok(Progress::Done);
                }
                // Taken or gone off shift since the read: the next one.
                Outcome::Refused { .. } => continue,
            }
        }
        // Nobody free now; the rider deadline gives up eventually.
        saga.rider_round += 1;
        Ok(Progress::RetryIn(chrono::TimeDelta::milliseconds(500)))
    }

    async fn refund(
        &self,
        saga: &mut Saga,
        refund_id: Uuid,
        cause: Cause<'_>,
    ) -> Result<Progress, StepError> {
        let Some(task) = saga
            .refunds
            .iter()
            .find(|r| r.refund_id == refund_id)
            .cloned()
        else {
            return Ok(Progress::Done);
        };
        let key = |s: &str| format!("fulfil:{}:refund:{refund_id}:{s}", saga.order_id);
        let p = saga.payment_id;
        if !task.requested {
            match self
                .post(
                    calls::request_payment_refund(
                        p,
                        SagaRefundBody {
                            refund_id,
                            amount: money(task.amount_minor, &saga.currency),
                            reason: task.reason.clone(),
                        },
                    ),
                    &key("request"),
                    cause,
                    &["refund_exceeds_captured", "invalid_transition"],
                )
                .await?
            {
                Outcome::Done(_) => {}
                Outcome::Refused { code, problem, .. } => {
                    // Nothing (more) to give back: drop the task.
                    tracing::warn!(order_id = %saga.order_id, %refund_id, %code, %problem, "refund refused");
                    saga.refunds.retain(|r| r.refund_id != refund_id);
                    return Ok(Progress::Done);
                }
            }
            update_refund(saga, refund_id, |r| r.requested = true);
            return Ok(Progress::Done);
        }
        if task.gateway_ref.is_none() {
            let reference = match saga.capture_ref.as_deref() {
                // Cash goes back by hand from the rider's float, not through the gateway.
                Some(c) if c.starts_with("cod:") => format!("cash:{refund_id}"),
                Some(capture) => match gateway_answer(
                    self.gateway
                        .refund(&key("gateway"), capture, task.amount_minor)
                        .await,
                )? {
                    GatewayOutcome::Approved { reference } => reference,
                    GatewayOutcome::Declined { code, reason } => {
                        return Err(StepError::Stuck(format!(
                            "refund declined: {code}: {reason}"
                        )))
                    }
                },
                None => {
                    return Err(StepError::Stuck(
                        "refund of a payment never captured".into(),
                    ))
                }
            };
            update_refund(saga, refund_id, |r| r.gateway_ref = Some(reference));
            return Ok(Progress::Done);
        }
        if !task.completed {
            self.expect_done(
                "complete refund",
                calls::payment_refund_completed(
                    p,
                    refund_id,
                    RefundCompletedBody {
                        gateway_ref: task.gateway_ref.clone().unwrap_or_default(),
                    },
                ),
                &key("completed"),
                cause,
            )
            .await?;
            update_refund(saga, refund_id, |r| r.completed = true);
            return Ok(Progress::Done);
        }
        if !saga.order_paid {
            // The order never showed this payment (it was cancelled while the capture was in
            // flight): the money went back on the payment; the order has nothing to reduce.
            update_refund(saga, refund_id, |r| r.order_recorded = true);
            return Ok(Progress::Done);
        }
        self.expect_done(
            "record refund on order",
            calls::record_order_refund(
                saga.order_id,
                RecordRefundBody {
                    payment_id: p,
                    refund_id,
                    amount: money(task.amount_minor, &saga.currency),
                    reason: task.reason.clone(),
                },
            ),
            &key("order"),
            cause,
        )
        .await?;
        update_refund(saga, refund_id, |r| r.order_recorded = true);
        Ok(Progress::Done)
    }

    async fn settle_payment(
        &self,
        saga: &mut Saga,
        cause: Cause<'_>,
    ) -> Result<Progress, StepError> {
        let reason = saga
            .cancel
            .as_ref()
            .map_or_else(|| "cancelled".to_owned(), |c| c.reason.clone());
        if saga.payment_initiated {
            if saga.capture_ref.is_none() {
                saga.capture_ref = self.release_or_learn_capture(saga, &reason, cause).await?;
            }
            if saga.capture_ref.is_some() {
                let already: i64 = saga.refunds.iter().map(|r| r.amount_minor).sum();
                let amount = saga.total_minor - already;
                let refund_id = Uuid::new_v5(&saga.order_id, b"compensation-refund");
                if amount > 0 && !saga.refunds.iter().any(|r| r.refund_id == refund_id) {
                    saga.refunds.push(RefundTask {
                        refund_id,
                        amount_minor: amount,
                        reason: format!("order cancelled: {reason}"),
                        requested: false,
                        gateway_ref: None,
                        completed: false,
                        order_recorded: false,
                    });
                }
            }
        }
        if let Some(c) = saga.cancel.as_mut() {
            c.payment_settled = true;
        }
        Ok(Progress::Done)
    }

    /// Releases a payment the saga never saw captured: voids its authorization and cancels its
    /// record. When the record answers that it IS captured (the capture went through, but the
    /// process stopped before the saga recorded it, and the payment deadline passed
    /// meanwhile), the capture is learned again from the gateway — the same idempotent capture
    /// request answers its reference — so the money is refunded, never kept for a cancelled
    /// order. Answers the capture's reference when there is one.
    async fn release_or_learn_capture(
        &self,
        saga: &Saga,
        reason: &str,
        cause: Cause<'_>,
    ) -> Result<Option<String>, StepError> {
        if let Some(auth) = saga.authorization_ref.clone() {
            match self
                .gateway
                .void(&format!("fulfil:{}:void", saga.order_id), &auth)
                .await
            {
                Ok(_) => {}
                Err(GatewayError::Transient(t)) => return Err(StepError::Transient(t)),
                // Already voided, expired or captured at the gateway: the record decides.
                Err(GatewayError::Rejected { code, reason }) => {
                    tracing::warn!(order_id = %saga.order_id, %code, %reason, "void refused");
                }
            }
        }
        let answer = self
            .post(
                calls::cancel_payment(
                    saga.payment_id,
                    CancelPaymentBody {
                        reason: format!("order cancelled: {reason}"),
                    },
                ),
                &format!("fulfil:{}:cancel-payment", saga.order_id),
                cause,
                &["invalid_transition"],
            )
            .await?;
        match answer {
            Outcome::Refused { problem, .. } if problem["current_status"] == "captured" => {
                let auth = saga.authorization_ref.clone().unwrap_or_default();
                let capture = self
                    .gateway
                    .capture(
                        &format!("fulfil:{}:capture", saga.order_id),
                        &auth,
                        saga.total_minor,
                    )
                    .await;
                match gateway_answer(capture)? {
                    GatewayOutcome::Approved { reference } => {
                        tracing::warn!(order_id = %saga.order_id, "a capture the saga had not recorded was found; it is refunded");
                        Ok(Some(reference))
                    }
                    GatewayOutcome::Declined { code, reason } => Err(StepError::Stuck(format!(
                        "the payment is captured but the gateway does not confirm it: {code}: {reason}"
                    ))),
                }
            }
            Outcome::Refused { code, problem, .. } => {
                tracing::warn!(order_id = %saga.order_id, %code, %problem, "payment could not be cancelled");
                Ok(None)
            }
            Outcome::Done(_) => Ok(None),
        }
    }

    /// Stock that left with the order and came back: received again as a new batch when it
    /// keeps (no cold chain, shelf life left), else written off.
    async fn return_stock(
        &self,
        saga: &mut Saga,
        batch_id: Uuid,
        cause: Cause<'_>,
    ) -> Result<Progress, StepError> {
        let Some(r) = saga
            .reservations
            .iter()
            .find(|r| r.batch_id == batch_id)
            .cloned()
        else {
            return Ok(Progress::Done);
        };
        let schema = &self.cfg.read_schema;
        let batch: Option<BatchRow> = sqlx::query_as(&format!(
            "SELECT product_id, supplier_id, warehouse_id, expires_at, cold_chain, price_minor, currency
               FROM {schema}.batches WHERE id = $1"
        ))
        .bind(batch_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(transient)?;
        let now = Utc::now();
        let keeps = |expires_at: DateTime<Utc>, cold: bool| {
            !cold
                && chrono::TimeDelta::from_std(self.cfg.restock_min_shelf_life)
                    .is_ok_and(|min| expires_at > now + min)
        };
        match batch {
            Some((product, supplier, warehouse, expires_at, cold, price, currency))
                if keeps(expires_at, cold) =>
            {
                let out = self
                    .post(
                        calls::receive_batch(ReceiveBatchBody {
                            product_id: product,
                            supplier_id: supplier,
                            warehouse_id: warehouse,
                            quantity: number(&r.quantity)?,
                            received_at: now,
                            expires_at,
                            cold_chain: false,
                            procurement_price: money(price, &currency),
                        }),
                        &format!("fulfil:{}:return:{batch_id}", saga.order_id),
                        cause,
                        &["already_exists"],
                    )
                    .await?;
                if let Outcome::Refused { code, problem, .. } = out {
                    tracing::warn!(order_id = %saga.order_id, %batch_id, %code, %problem, "returned stock could not be received back; written off");
                }
            }
            _ => {
                tracing::info!(order_id = %saga.order_id, %batch_id, quantity = %r.quantity, "returned stock written off (cold chain broken or shelf life too short)")
            }
        }
        set_status(saga, batch_id, ReservationStatus::Returned);
        Ok(Progress::Done)
    }
}

/// A rider as the read model shows them: id, position, cold box, current delivery.
type RiderRow = (Uuid, Option<i32>, Option<i32>, bool, Option<Uuid>);
/// A batch as the read model shows it: product, supplier, warehouse, expiry, cold chain, unit
/// price and currency.
type BatchRow = (Uuid, Uuid, Uuid, DateTime<Utc>, bool, i64, String);

/// An answer the step has no branch for: a fault, never a "no".
fn unexpected(step: &str, out: Outcome) -> StepError {
    match out {
        Outcome::Refused {
            status,
            code,
            problem,
        } => stuck(step, status, &code, &problem),
        Outcome::Done(body) => StepError::Stuck(format!("{step}: unexpected answer {body}")),
    }
}

fn gateway_answer(r: Result<GatewayOutcome, GatewayError>) -> Result<GatewayOutcome, StepError> {
    match r {
        Ok(o) => Ok(o),
        Err(GatewayError::Transient(t)) => Err(StepError::Transient(t)),
        Err(GatewayError::Rejected { code, reason }) => Err(StepError::Stuck(format!(
            "gateway rejected: {code}: {reason}"
        ))),
    }
}

fn set_status(saga: &mut Saga, batch_id: Uuid, status: ReservationStatus) {
    if let Some(r) = saga
        .reservations
        .iter_mut()
        .find(|r| r.batch_id == batch_id)
    {
        r.status = status;
    }
}

fn update_refund(saga: &mut Saga, refund_id: Uuid, f: impl FnOnce(&mut RefundTask)) {
    if let Some(r) = saga.refunds.iter_mut().find(|r| r.refund_id == refund_id) {
        f(r);
    }
}

/// A decimal quantity as the JSON number the routes take (they read quantities as numbers,
/// never strings).
fn number(s: &str) -> Result<serde_json::Number, StepError> {
    s.parse()
        .map_err(|_| StepError::Stuck(format!("quantity {s:?} is not a decimal number")))
}
