//! The fulfilment saga's state and its decisions, pure: what is known about one order's
//! progress ([`Saga`]), what the next step is ([`Saga::next_step`]), and how an event from
//! Kafka changes what is known ([`Saga::on_event`]). The runtime stores the state, runs the
//! steps against command-api and the payment gateway, and records their results here.
//!
//! The state is facts, not a position in a flowchart: whatever order events and crashes come
//! in, the next step is computed from what is done and what is not, so a saga resumes where it
//! stopped and a replayed event changes nothing.

use chrono::{DateTime, Utc};
use schemas::common::GeoPointV1;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many times allocation is planned again after reservations were refused (stock moved
/// since the read model was read) before the order is given up as out of stock.
pub const MAX_ALLOCATION_ROUNDS: u32 = 20;

/// A line of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaLine {
    /// The product.
    pub product_id: Uuid,
    /// How much, a decimal string.
    pub quantity: String,
}

/// Where a reservation on one batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Planned by allocation, not yet sent.
    Planned,
    /// Reserved on the batch.
    Reserved,
    /// The batch refused it (nothing left there); allocation plans the rest elsewhere.
    Refused,
    /// Committed: the stock left with the order.
    Committed,
    /// Released back to the batch.
    Released,
    /// Committed stock handled by the return policy after a failed delivery or a late
    /// cancellation (received back as a new batch, or written off).
    Returned,
}

/// One reservation of the order on one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The batch.
    pub batch_id: Uuid,
    /// The product (the line).
    pub product_id: Uuid,
    /// How much, a decimal string.
    pub quantity: String,
    /// Whether the batch needs the cold chain.
    pub cold_chain: bool,
    /// The allocation round that planned it (part of its idempotency key).
    pub round: u32,
    /// Where it is.
    pub status: ReservationStatus,
}

/// A refund to carry out: requested by the saga (compensation) or by an administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTask {
    /// The refund.
    pub refund_id: Uuid,
    /// How much.
    pub amount_minor: i64,
    /// Why.
    pub reason: String,
    /// Recorded on the payment (`RefundRequested`).
    pub requested: bool,
    /// Paid back by the gateway, with its reference.
    pub gateway_ref: Option<String>,
    /// `RefundCompleted` recorded on the payment.
    pub completed: bool,
    /// Recorded on the order.
    pub order_recorded: bool,
}

/// Why and how far the order is being given up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The order's cancel reason (`out_of_stock`, `payment_failed`, `customer_request`, ...).
    pub reason: String,
    /// More detail.
    pub detail: Option<String>,
    /// The order shows `cancelled` (the saga recorded it, or the customer or an admin did).
    pub order_recorded: bool,
    /// The payment is settled: voided, cancelled, declined, or its capture refunded.
    pub payment_settled: bool,
    /// The slot place was given back (or never taken).
    pub slot_released: bool,
    /// The delivery was cancelled (or never scheduled, or it failed).
    pub delivery_closed: bool,
}

/// How a saga ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Delivered, paid, rider free.
    Delivered,
    /// Cancelled and every step undone.
    Compensated,
}

/// Everything the saga knows about one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saga {
    /// The order.
    pub order_id: Uuid,
    /// The order's lines.
    pub lines: Vec<SagaLine>,
    /// Its total in minor units.
    pub total_minor: i64,
    /// Its currency.
    pub currency: String,
    /// The warehouse serving it.
    pub warehouse_id: Uuid,
    /// Where the warehouse is.
    pub warehouse_location: GeoPointV1,
    /// The slot.
    pub slot_id: Uuid,
    /// When the slot ends (FEFO skips batches expiring before).
    pub slot_ends_at: DateTime<Utc>,
    /// `card` or `cash_on_delivery`.
    pub method: String,
    /// The card token.
    pub card_token: Option<String>,
    /// The payment.
    pub payment_id: Uuid,
    /// When the order was placed.
    pub placed_at: DateTime<Utc>,

    /// Reservations, per batch.
    pub reservations: Vec<Reservation>,
    /// Allocation rounds so far.
    pub allocation_round: u32,
    /// `POST /v1/payments` done.
    pub payment_initiated: bool,
    /// The gateway's authorisation (recorded on the payment).
    pub authorization_ref: Option<String>,
    /// The capture (recorded on the payment).
    pub capture_ref: Option<String>,
    /// The order shows `paid`.
    pub order_paid: bool,
    /// The slot place is taken.
    pub slot_booked: bool,
    /// The delivery, once scheduled.
    pub delivery_id: Option<Uuid>,
    /// Whether the delivery needs the cold chain (any reserved batch does).
    pub cold_chain: bool,
    /// The rider taken, and whether the delivery records them.
    pub rider: Option<(Uuid, u32, bool)>,
    /// Rider searches so far (part of the assignment's idempotency key: a refusal is
    /// remembered under its key, and a rider busy then may be free in a later search).
    #[serde(default)]
    pub rider_round: u32,
    /// The warehouse packed it (event).
    pub packed: bool,
    /// The rider picked it up (event).
    pub picked_up: bool,
    /// The order shows `shipped`.
    pub shipped: bool,
    /// The delivery completed (event).
    pub delivered: bool,
    /// The order shows `delivered`.
    pub order_delivered: bool,
    /// The rider was freed.
    pub rider_released: bool,
    /// Refunds to carry out.
    pub refunds: Vec<RefundTask>,
    /// Set when the order is given up.
    pub cancel: Option<Cancellation>,
    /// Set when nothing is left to do (an administrator's refund can still come later).
    pub outcome: Option<Outcome>,
    /// The last event the saga took in: the cause of the commands it sends next.
    #[serde(default)]
    pub last_event: Option<Uuid>,
}

/// The next thing to do for a saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read candidate batches and plan reservations (first expired, first out).
    Allocate,
    /// Reserve a planned quantity on a batch.
    Reserve {
        /// The batch.
        batch_id: Uuid,
    },
    /// Open the payment.
    InitiatePayment,
    /// Authorise the card at the gateway and record it.
    Authorize,
    /// Capture the authorisation and record it.
    Capture,
    /// Record the order paid.
    MarkPaid,
    /// Take a place in the slot.
    BookSlot,
    /// Schedule the delivery.
    ScheduleDelivery,
    /// Find the nearest available rider and assign them.
    AssignRider,
    /// Record the rider on the delivery.
    RecordRider,
    /// Commit a reservation (the order was packed).
    Commit {
        /// The batch.
        batch_id: Uuid,
    },
    /// Record the order shipped.
    Ship,
    /// Collect cash on delivery.
    CaptureCash,
    /// Record the order delivered.
    DeliverOrder,
    /// Free the rider.
    ReleaseRider,
    /// Carry out a refund (request, gateway, complete, record on the order).
    Refund {
        /// The refund.
        refund_id: Uuid,
    },
    /// Record the order cancelled.
    CancelOrder,
    /// Settle the payment: void an authorisation, cancel a pending payment, or start the
    /// refund of a capture.
    SettlePayment,
    /// Release a reservation.
    Release {
        /// The batch.
        batch_id: Uuid,
    },
    /// Handle committed stock that came back by the return policy.
    ReturnStock {
        /// The batch.
        batch_id: Uuid,
    },
    /// Give the slot place back.
    ReleaseSlot,
    /// Cancel the delivery.
    CancelDelivery,
}

impl Step {
    /// A short name (metrics, logs, idempotency keys).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Allocate => "allocate",
            Self::Reserve { .. } => "reserve",
            Self::InitiatePayment => "initiate_payment",
            Self::Authorize => "authorize",
            Self::Capture => "capture",
            Self::MarkPaid => "mark_paid",
            Self::BookSlot => "book_slot",
            Self::ScheduleDelivery => "schedule_delivery",
            Self::AssignRider => "assign_rider",
            Self::RecordRider => "record_rider",
            Self::Commit { .. } => "commit",
            Self::Ship => "ship",
            Self::CaptureCash => "capture_cash",
            Self::DeliverOrder => "deliver_order",
            Self::ReleaseRider => "release_rider",
            Self::Refund { .. } => "refund",
            Self::CancelOrder => "cancel_order",
            Self::SettlePayment => "settle_payment",
            Self::Release { .. } => "release",
            Self::ReturnStock { .. } => "return_stock",
            Self::ReleaseSlot => "release_slot",
            Self::CancelDelivery => "cancel_delivery",
        }
    }
}

/// What the saga does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run this step.
    Run(Step),
    /// Nothing until an event arrives (packing, pickup, delivery) or a deadline passes.
    Wait,
    /// Finished.
    Done(Outcome),
}

/// An event from Kafka that concerns a saga (stored in the inbox as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaEvent {
    /// The order was packed.
    Packed,
    /// The order was cancelled (by the customer, an administrator, or the saga itself).
    OrderCancelled {
        /// The reason code.
        reason: String,
        /// Detail.
        detail: Option<String>,
    },
    /// The rider picked it up.
    PickedUp,
    /// The delivery completed.
    Delivered,
    /// The delivery failed.
    DeliveryFailed {
        /// Why.
        reason: String,
    },
    /// A refund was requested on the payment.
    RefundRequested {
        /// The refund.
        refund_id: Uuid,
        /// How much.
        amount_minor: i64,
        /// Why.
        reason: String,
    },
    /// A deadline passed.
    Deadline(DeadlineKind),
}

/// What a deadline guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The payment must be confirmed (captured, or cash accepted) by then.
    Payment,
    /// A rider must be found by then.
    Rider,
}

impl DeadlineKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Rider => "rider",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "payment" => Some(Self::Payment),
            "rider" => Some(Self::Rider),
            _ => None,
        }
    }
}

impl Saga {
    /// Whether the order is paid by card.
    pub fn by_card(&self) -> bool {
        self.method == "card"
    }

    /// Gives the order up for `reason` (once: the first reason stands).
    pub fn give_up(&mut self, reason: &str, detail: Option<String>) {
        if self.cancel.is_none() && self.outcome.is_none() {
            self.cancel = Some(Cancellation {
                reason: reason.to_owned(),
                detail,
                order_recorded: false,
                payment_settled: false,
                slot_released: !self.slot_booked,
                delivery_closed: self.delivery_id.is_none(),
            });
        }
    }

    /// Applies an event. Events that are already reflected change nothing.
    pub fn on_event(&mut self, event: SagaEvent) {
        match event {
            SagaEvent::Packed => self.packed = true,
            SagaEvent::PickedUp => self.picked_up = true,
            SagaEvent::Delivered => self.delivered = true,
            SagaEvent::DeliveryFailed { reason } => {
                if let Some(c) = self.cancel.as_mut() {
                    c.delivery_closed = true;
                } else if self.outcome.is_none() {
                    self.give_up("delivery_failed", Some(reason));
                    if let Some(c) = self.cancel.as_mut() {
                        c.delivery_closed = true;
                    }
                }
            }
            SagaEvent::OrderCancelled { reason, detail } => {
                if self.outcome == Some(Outcome::Delivered) {
                    return;
                }
                self.give_up(&reason, detail);
                if let Some(c) = self.cancel.as_mut() {
                    c.order_recorded = true;
                }
            }
            SagaEvent::RefundRequested {
                refund_id,
                amount_minor,
                reason,
            } => match self.refunds.iter_mut().find(|r| r.refund_id == refund_id) {
                Some(r) => r.requested = true,
                None => self.refunds.push(RefundTask {
                    refund_id,
                    amount_minor,
                    reason,
                    requested: true,
                    gateway_ref: None,
                    completed: false,
                    order_recorded: false,
                }),
            },
            SagaEvent::Deadline(DeadlineKind::Payment) => {
                if !self.order_paid {
                    self.give_up(
                        "payment_failed",
                        Some("the payment was not confirmed in time".into()),
                    );
                }
            }
            SagaEvent::Deadline(DeadlineKind::Rider) => {
                if self.rider.is_none() {
                    self.give_up(
                        "no_delivery_capacity",
                        Some("no rider was found in time".into()),
                    );
                }
            }
        }
    }

    /// The quantity of `product_id` already held (planned, reserved or committed), as a
    /// decimal.
    pub fn held(&self, product_id: Uuid) -> rust_decimal::Decimal {
        self.reservations
            .iter()
            .filter(|r| r.product_id == product_id)
            .filter(|r| {
                matches!(
                    r.status,
                    ReservationStatus::Planned
                        | ReservationStatus::Reserved
                        | ReservationStatus::Committed
                )
            })
            .filter_map(|r| r.quantity.parse::<rust_decimal::Decimal>().ok())
            .sum()
    }

    fn fully_held(&self) -> bool {
        self.lines.iter().all(|l| {
            l.quantity
                .parse::<rust_decimal::Decimal>()
                .is_ok_and(|q| self.held(l.product_id) >= q)
        })
    }

    /// What to do next.
    pub fn next_step(&self) -> Next {
        if let Some(done) = self.outcome {
            // An administrator's refund can come after the end.
            return match self.pending_refund() {
                Some(refund_id) => Next::Run(Step::Refund { refund_id }),
                None => Next::Done(done),
            };
        }
        if let Some(c) = &self.cancel {
            return self.compensation(c);
        }
        if let Some(refund_id) = self.pending_refund() {
            return Next::Run(Step::Refund { refund_id });
        }
        let planned = |s| self.reservations.iter().find(|r| r.status == s);
        if let Some(r) = planned(ReservationStatus::Planned) {
            return Next::Run(Step::Reserve {
                batch_id: r.batch_id,
            });
        }
        if !self.fully_held() {
            return Next::Run(Step::Allocate);
        }
        if !self.payment_initiated {
            return Next::Run(Step::InitiatePayment);
        }
        if self.by_card() {
            if self.authorization_ref.is_none() {
                return Next::Run(Step::Authorize);
            }
            if self.capture_ref.is_none() {
                return Next::Run(Step::Capture);
            }
        }
        if !self.order_paid {
            return Next::Run(Step::MarkPaid);
        }
        if !self.slot_booked {
            return Next::Run(Step::BookSlot);
        }
        if self.delivery_id.is_none() {
            return Next::Run(Step::ScheduleDelivery);
        }
        match self.rider {
            None => return Next::Run(Step::AssignRider),
            Some((_, _, false)) => return Next::Run(Step::RecordRider),
            Some(_) => {}
        }
        if !self.packed {
            return Next::Wait;
        }
        if let Some(r) = planned(ReservationStatus::Reserved) {
            return Next::Run(Step::Commit {
                batch_id: r.batch_id,
            });
        }
        if !self.picked_up {
            return Next::Wait;
        }
        if !self.shipped {
            return Next::Run(Step::Ship);
        }
        if !self.delivered {
            return Next::Wait;
        }
        if !self.by_card() && self.capture_ref.is_none() {
            return Next::Run(Step::CaptureCash);
        }
        if !self.order_delivered {
            return Next::Run(Step::DeliverOrder);
        }
        if !self.rider_released {
            return Next::Run(Step::ReleaseRider);
        }
        Next::Done(Outcome::Delivered)
    }

    fn pending_refund(&self) -> Option<Uuid> {
        self.refunds
            .iter()
            .find(|r| !(r.completed && r.order_recorded))
            .map(|r| r.refund_id)
    }

    fn compensation(&self, c: &Cancellation) -> Next {
        if !c.order_recorded {
            return Next::Run(Step::CancelOrder);
        }
        if !c.payment_settled {
            return Next::Run(Step::SettlePayment);
        }
        if let Some(refund_id) = self.pending_refund() {
            return Next::Run(Step::Refund { refund_id });
        }
        if let Some(r) = self.reservations.iter().find(|r| {
            matches!(
                r.status,
                ReservationStatus::Reserved | ReservationStatus::Planned
            )
        }) {
            return Next::Run(Step::Release {
                batch_id: r.batch_id,
            });
        }
        if let Some(r) = self
            .reservations
            .iter()
            .find(|r| r.status == ReservationStatus::Committed)
        {
            return Next::Run(Step::ReturnStock {
                batch_id: r.batch_id,
            });
        }
        if !c.slot_released {
            return Next::Run(Step::ReleaseSlot);
        }
        if !c.delivery_closed {
            return Next::Run(Step::CancelDelivery);
        }
        if self.delivery_id.is_some() && !self.rider_released {
            return Next::Run(Step::ReleaseRider);
        }
        Next::Done(Outcome::Compensated)
    }

    /// A new saga for a placed order.
    pub fn start(
        order_id: Uuid,
        placed: &schemas::order::OrderPlacedV1,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            order_id,
            lines: placed
                .lines
                .iter()
                .map(|l| SagaLine {
                    product_id: l.product_id,
                    quantity: l.quantity.clone(),
                })
                .collect(),
            total_minor: placed.total.amount_minor,
            currency: placed.total.currency.clone(),
            warehouse_id: placed.delivery.warehouse_id,
            warehouse_location: placed.delivery.warehouse_location,
            slot_id: placed.delivery.slot_id,
            slot_ends_at: placed.delivery.slot_ends_at,
            method: placed.payment.method.clone(),
            card_token: placed.payment.card_token.clone(),
            payment_id: placed.payment.payment_id,
            placed_at: at,
            reservations: vec![],
            allocation_round: 0,
            payment_initiated: false,
            authorization_ref: None,
            capture_ref: None,
            order_paid: false,
            slot_booked: false,
            delivery_id: None,
            cold_chain: false,
            rider: None,
            rider_round: 0,
            packed: false,
            picked_up: false,
            shipped: false,
            delivered: false,
            order_delivered: false,
            rider_released: false,
            refunds: vec![],
            cancel: None,
            outcome: None,
            last_event: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(method: &str) -> Saga {
        let mut p: schemas::order::OrderPlacedV1 = serde_json::from_str(include_str!(
            "../../../schemas/fixtures/OrderPlaced.v1.json"
        ))
        .expect("fixture");
        p.payment.method = method.to_owned();
        Saga::start(Uuid::from_u128(1), &p, Utc::now())
    }

    fn reserve_all(s: &mut Saga) {
        for l in s.lines.clone() {
            s.reservations.push(Reservation {
                batch_id: Uuid::from_u128(l.product_id.as_u128() + 100),
                product_id: l.product_id,
                quantity: l.quantity,
                cold_chain: false,
                round: 0,
                status: ReservationStatus::Reserved,
            });
        }
    }

    #[test]
    fn a_card_order_goes_reserve_pay_book_ride_then_waits_for_the_warehouse() {
        let mut s = placed("card");
        assert_eq!(s.next_step(), Next::Run(Step::Allocate));
        reserve_all(&mut s);
        assert_eq!(s.next_step(), Next::Run(Step::InitiatePayment));
        s.payment_initiated = true;
        assert_eq!(s.next_step(), Next::Run(Step::Authorize));
        s.authorization_ref = Some("auth".into());
        assert_eq!(s.next_step(), Next::Run(Step::Capture));
        s.capture_ref = Some("cap".into());
        assert_eq!(s.next_step(), Next::Run(Step::MarkPaid));
        s.order_paid = true;
        assert_eq!(s.next_step(), Next::Run(Step::BookSlot));
        s.slot_booked = true;
        assert_eq!(s.next_step(), Next::Run(Step::ScheduleDelivery));
        s.delivery_id = Some(Uuid::from_u128(9));
        assert_eq!(s.next_step(), Next::Run(Step::AssignRider));
        s.rider = Some((Uuid::from_u128(7), 120, false));
        assert_eq!(s.next_step(), Next::Run(Step::RecordRider));
        s.rider = Some((Uuid::from_u128(7), 120, true));
        assert_eq!(s.next_step(), Next::Wait);
        // Events may come in any order: delivered before packed still waits for packing.
        s.on_event(SagaEvent::PickedUp);
        s.on_event(SagaEvent::Delivered);
        assert_eq!(s.next_step(), Next::Wait);
        s.on_event(SagaEvent::Packed);
        assert!(matches!(s.next_step(), Next::Run(Step::Commit { .. })));
        for r in &mut s.reservations {
            r.status = ReservationStatus::Committed;
        }
        assert_eq!(s.next_step(), Next::Run(Step::Ship));
        s.shipped = true;
        assert_eq!(s.next_step(), Next::Run(Step::DeliverOrder));
        s.order_delivered = true;
        assert_eq!(s.next_step(), Next::Run(Step::ReleaseRider));
        s.rider_released = true;
        assert_eq!(s.next_step(), Next::Done(Outcome::Delivered));
    }

    #[test]
    fn cash_on_delivery_is_captured_after_the_handover() {
        let mut s = placed("cash_on_delivery");
        reserve_all(&mut s);
        s.payment_initiated = true;
        assert_eq!(s.next_step(), Next::Run(Step::MarkPaid));
        s.order_paid = true;
        s.slot_booked = true;
        s.delivery_id = Some(Uuid::from_u128(9));
        s.rider = Some((Uuid::from_u128(7), 1, true));
        for e in [SagaEvent::Packed, SagaEvent::PickedUp, SagaEvent::Delivered] {
            s.on_event(e);
        }
        for r in &mut s.reservations {
            r.status = ReservationStatus::Committed;
        }
        s.shipped = true;
        assert_eq!(s.next_step(), Next::Run(Step::CaptureCash));
    }

    #[test]
    fn a_payment_deadline_after_capture_changes_nothing_but_before_it_compensates() {
        let mut s = placed("card");
        reserve_all(&mut s);
        s.payment_initiated = true;
        s.authorization_ref = Some("auth".into());
        s.on_event(SagaEvent::Deadline(DeadlineKind::Payment));
        assert_eq!(s.next_step(), Next::Run(Step::CancelOrder));
        s.cancel.as_mut().expect("cancel").order_recorded = true;
        assert_eq!(s.next_step(), Next::Run(Step::SettlePayment));
        s.cancel.as_mut().expect("cancel").payment_settled = true;
        assert!(matches!(s.next_step(), Next::Run(Step::Release { .. })));
        for r in &mut s.reservations {
            r.status = ReservationStatus::Released;
        }
        assert_eq!(s.next_step(), Next::Done(Outcome::Compensated));

        let mut paid = placed("card");
        paid.order_paid = true;
        paid.on_event(SagaEvent::Deadline(DeadlineKind::Payment));
        assert!(paid.cancel.is_none());
    }

    #[test]
    fn a_failed_delivery_refunds_returns_stock_and_frees_slot_and_rider() {
        let mut s = placed("card");
        reserve_all(&mut s);
        s.payment_initiated = true;
        s.authorization_ref = Some("a".into());
        s.capture_ref = Some("c".into());
        s.order_paid = true;
        s.slot_booked = true;
        s.delivery_id = Some(Uuid::from_u128(9));
        s.rider = Some((Uuid::from_u128(7), 1, true));
        for r in &mut s.reservations {
            r.status = ReservationStatus::Committed;
        }
        s.on_event(SagaEvent::DeliveryFailed {
            reason: "customer_absent".into(),
        });
        let c = s.cancel.clone().expect("given up");
        assert_eq!(c.reason, "delivery_failed");
        assert!(c.delivery_closed && !c.slot_released);
        assert_eq!(s.next_step(), Next::Run(Step::CancelOrder));
        s.cancel.as_mut().expect("c").order_recorded = true;
        assert_eq!(s.next_step(), Next::Run(Step::SettlePayment));
        s.cancel.as_mut().expect("c").payment_settled = true;
        s.refunds.push(RefundTask {
            refund_id: Uuid::from_u128(5),
            amount_minor: s.total_minor,
            reason: "r".into(),
            requested: false,
            gateway_ref: None,
            completed: false,
            order_recorded: false,
        });
        assert!(matches!(s.next_step(), Next::Run(Step::Refund { .. })));
        if let Some(r) = s.refunds.first_mut() {
            r.completed = true;
            r.order_recorded = true;
        }
        assert!(matches!(s.next_step(), Next::Run(Step::ReturnStock { .. })));
        for r in &mut s.reservations {
            r.status = ReservationStatus::Returned;
        }
        assert_eq!(s.next_step(), Next::Run(Step::ReleaseSlot));
        s.cancel.as_mut().expect("c").slot_released = true;
        assert_eq!(s.next_step(), Next::Run(Step::ReleaseRider));
        s.rider_released = true;
        assert_eq!(s.next_step(), Next::Done(Outcome::Compensated));
    }

    #[test]
    fn the_first_reason_to_give_up_stands_and_a_delivered_order_is_not_cancelled() {
        let mut s = placed("card");
        s.give_up("out_of_stock", None);
        s.on_event(SagaEvent::OrderCancelled {
            reason: "customer_request".into(),
            detail: None,
        });
        let c = s.cancel.clone().expect("c");
        assert_eq!(c.reason, "out_of_stock");
        assert!(c.order_recorded);

        let mut done = placed("card");
        done.outcome = Some(Outcome::Delivered);
        done.on_event(SagaEvent::OrderCancelled {
            reason: "admin".into(),
            detail: None,
        });
        assert!(done.cancel.is_none());
        done.on_event(SagaEvent::RefundRequested {
            refund_id: Uuid::from_u128(3),
            amount_minor: 10,
            reason: "bruised".into(),
        });
        assert_eq!(
            done.next_step(),
            Next::Run(Step::Refund {
                refund_id: Uuid::from_u128(3)
            })
        );
    }
}
