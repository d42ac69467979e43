//! One function per command-api route: the path with its ids filled in, and the body the
//! route reads. Callers send what these return; nobody else builds a command path.

use super::*;
use uuid::Uuid;

/// Register a supplier. `POST /v1/suppliers`.
pub fn register_supplier(body: RegisterSupplierBody) -> Call<RegisterSupplierBody> {
    Call::post("/v1/suppliers".to_owned(), body)
}

/// Submit a supplier's document. `POST /v1/suppliers/{id}/documents`.
pub fn submit_document(id: Uuid, body: SubmitDocumentBody) -> Call<SubmitDocumentBody> {
    Call::post(format!("/v1/suppliers/{id}/documents"), body)
}

/// Approve a supplier. `POST /v1/suppliers/{id}/approve`.
pub fn approve_supplier(id: Uuid, body: NoteBody) -> Call<NoteBody> {
    Call::post(format!("/v1/suppliers/{id}/approve"), body)
}

/// Reject a supplier. `POST /v1/suppliers/{id}/reject`.
pub fn reject_supplier(id: Uuid, body: ReasonBody) -> Call<ReasonBody> {
    Call::post(format!("/v1/suppliers/{id}/reject"), body)
}

/// Suspend a supplier. `POST /v1/suppliers/{id}/suspend`.
pub fn suspend_supplier(id: Uuid, body: SuspendBody) -> Call<SuspendBody> {
    Call::post(format!("/v1/suppliers/{id}/suspend"), body)
}

/// Reinstate a supplier. `POST /v1/suppliers/{id}/reinstate`.
pub fn reinstate_supplier(id: Uuid, body: NoteBody) -> Call<NoteBody> {
    Call::post(format!("/v1/suppliers/{id}/reinstate"), body)
}

/// List a product for a supplier. `POST /v1/suppliers/{id}/products`.
pub fn list_product(id: Uuid, body: ListProductBody) -> Call<ListProductBody> {
    Call::post(format!("/v1/suppliers/{id}/products"), body)
}

/// List many products for a supplier. `POST /v1/suppliers/{id}/products/bulk`.
pub fn list_products(id: Uuid, body: BulkListBody) -> Call<BulkListBody> {
    Call::post(format!("/v1/suppliers/{id}/products/bulk"), body)
}

/// Receive many batches. `POST /v1/inventory/batches/bulk`.
pub fn receive_batches(body: BulkReceiveBody) -> Call<BulkReceiveBody> {
    Call::post("/v1/inventory/batches/bulk".to_owned(), body)
}

/// Update a product (`PATCH`). `PATCH /v1/products/{id}`.
pub fn update_product(id: Uuid, body: UpdateProductBody) -> Call<UpdateProductBody> {
    Call::patch(format!("/v1/products/{id}"), body)
}

/// Discontinue a product. `POST /v1/products/{id}/discontinue`.
pub fn discontinue_product(id: Uuid, body: ReasonBody) -> Call<ReasonBody> {
    Call::post(format!("/v1/products/{id}/discontinue"), body)
}

/// Record a processed image. `POST /v1/products/{id}/images/{image_id}/processed`.
pub fn image_processed(
    id: Uuid,
    image_id: Uuid,
    body: ImageProcessedBody,
) -> Call<ImageProcessedBody> {
    Call::post(
        format!("/v1/products/{id}/images/{image_id}/processed"),
        body,
    )
}

/// Record a failed image. `POST /v1/products/{id}/images/{image_id}/failed`.
pub fn image_failed(id: Uuid, image_id: Uuid, body: ReasonBody) -> Call<ReasonBody> {
    Call::post(format!("/v1/products/{id}/images/{image_id}/failed"), body)
}

/// Receive a batch. `POST /v1/inventory/batches`.
pub fn receive_batch(body: ReceiveBatchBody) -> Call<ReceiveBatchBody> {
    Call::post("/v1/inventory/batches".to_owned(), body)
}

/// Reserve stock of a batch for an order. `POST /v1/inventory/batches/{id}/reservations`.
pub fn reserve_stock(id: Uuid, body: ReserveBody) -> Call<ReserveBody> {
    Call::post(format!("/v1/inventory/batches/{id}/reservations"), body)
}

/// Release an order's reservation of a batch. `POST /v1/inventory/batches/{id}/reservations/{order_id}/release`.
pub fn release_reservation(id: Uuid, order_id: Uuid) -> Call<NoBody> {
    Call::post(
        format!("/v1/inventory/batches/{id}/reservations/{order_id}/release"),
        NoBody {},
    )
}

/// Commit an order's reservation of a batch. `POST /v1/inventory/batches/{id}/reservations/{order_id}/commit`.
pub fn commit_reservation(id: Uuid, order_id: Uuid) -> Call<NoBody> {
    Call::post(
        format!("/v1/inventory/batches/{id}/reservations/{order_id}/commit"),
        NoBody {},
    )
}

/// Record spoilage of a batch. `POST /v1/inventory/batches/{id}/spoilage`.
pub fn record_spoilage(id: Uuid, body: SpoilageBody) -> Call<SpoilageBody> {
    Call::post(format!("/v1/inventory/batches/{id}/spoilage"), body)
}

/// Expire a batch. `POST /v1/inventory/batches/{id}/expire`.
pub fn expire_batch(id: Uuid) -> Call<NoBody> {
    Call::post(format!("/v1/inventory/batches/{id}/expire"), NoBody {})
}

/// Assess a product's stock in a warehouse. `POST /v1/inventory/stock-alerts`.
pub fn assess_stock(body: AssessBody) -> Call<AssessBody> {
    Call::post("/v1/inventory/stock-alerts".to_owned(), body)
}

/// Flag a batch as expiring soon. `POST /v1/inventory/batches/{id}/expiring-soon`.
pub fn flag_expiring_soon(id: Uuid, body: ExpiringSoonBody) -> Call<ExpiringSoonBody> {
    Call::post(format!("/v1/inventory/batches/{id}/expiring-soon"), body)
}

/// Place an order. `POST /v1/orders`.
pub fn place_order(body: PlaceOrderBody) -> Call<PlaceOrderBody> {
    Call::post("/v1/orders".to_owned(), body)
}

/// Cancel an order. `POST /v1/orders/{id}/cancel`.
pub fn cancel_order(id: Uuid, body: CancelBody) -> Call<CancelBody> {
    Call::post(format!("/v1/orders/{id}/cancel"), body)
}

/// Mark an order packed. `POST /v1/orders/{id}/pack`.
pub fn pack_order(id: Uuid) -> Call<NoBody> {
    Call::post(format!("/v1/orders/{id}/pack"), NoBody {})
}

/// Mark an order paid. `POST /v1/orders/{id}/paid`.
pub fn order_paid(id: Uuid, body: PaidBody) -> Call<PaidBody> {
    Call::post(format!("/v1/orders/{id}/paid"), body)
}

/// Mark an order shipped. `POST /v1/orders/{id}/ship`.
pub fn ship_order(id: Uuid, body: ShipBody) -> Call<ShipBody> {
    Call::post(format!("/v1/orders/{id}/ship"), body)
}

/// Mark an order delivered. `POST /v1/orders/{id}/deliver`.
pub fn deliver_order(id: Uuid, body: DeliverBody) -> Call<DeliverBody> {
    Call::post(format!("/v1/orders/{id}/deliver"), body)
}

/// Cancel an order as the saga compensates. `POST /v1/orders/{id}/compensate`.
pub fn compensate_order(id: Uuid, body: CompensateBody) -> Call<CompensateBody> {
    Call::post(format!("/v1/orders/{id}/compensate"), body)
}

/// An operator forces an order's compensation. `POST /v1/ops/orders/{id}/compensate`.
pub fn force_compensation(id: Uuid, body: ForceCompensationBody) -> Call<ForceCompensationBody> {
    Call::post(format!("/v1/ops/orders/{id}/compensate"), body)
}

/// Record a refund against an order. `POST /v1/orders/{id}/refunds`.
pub fn record_order_refund(id: Uuid, body: RecordRefundBody) -> Call<RecordRefundBody> {
    Call::post(format!("/v1/orders/{id}/refunds"), body)
}

/// Open an order's payment. `POST /v1/payments`.
pub fn initiate_payment(body: InitiateBody) -> Call<InitiateBody> {
    Call::post("/v1/payments".to_owned(), body)
}

/// Record the gateway's authorisation. `POST /v1/payments/{id}/authorized`.
pub fn payment_authorized(id: Uuid, body: GatewayResultBody) -> Call<GatewayResultBody> {
    Call::post(format!("/v1/payments/{id}/authorized"), body)
}

/// Record the gateway's capture. `POST /v1/payments/{id}/captured`.
pub fn payment_captured(id: Uuid, body: GatewayResultBody) -> Call<GatewayResultBody> {
    Call::post(format!("/v1/payments/{id}/captured"), body)
}

/// Record the gateway's decline. `POST /v1/payments/{id}/declined`.
pub fn payment_declined(id: Uuid, body: DeclinedBody) -> Call<DeclinedBody> {
    Call::post(format!("/v1/payments/{id}/declined"), body)
}

/// Cancel a payment. `POST /v1/payments/{id}/cancel`.
pub fn cancel_payment(id: Uuid, body: CancelPaymentBody) -> Call<CancelPaymentBody> {
    Call::post(format!("/v1/payments/{id}/cancel"), body)
}

/// The saga requests a refund of a payment. `POST /v1/payments/{id}/refunds`.
pub fn request_payment_refund(id: Uuid, body: SagaRefundBody) -> Call<SagaRefundBody> {
    Call::post(format!("/v1/payments/{id}/refunds"), body)
}

/// Record a refund the gateway paid. `POST /v1/payments/{id}/refunds/{refund_id}/completed`.
pub fn payment_refund_completed(
    id: Uuid,
    refund_id: Uuid,
    body: RefundCompletedBody,
) -> Call<RefundCompletedBody> {
    Call::post(
        format!("/v1/payments/{id}/refunds/{refund_id}/completed"),
        body,
    )
}

/// An operator refunds part of a payment. `POST /v1/payments/{id}/refund`.
pub fn refund_payment(id: Uuid, body: RefundBody) -> Call<RefundBody> {
    Call::post(format!("/v1/payments/{id}/refund"), body)
}

/// Open a delivery slot. `POST /v1/delivery-slots`.
pub fn create_slot(body: SlotBody) -> Call<SlotBody> {
    Call::post("/v1/delivery-slots".to_owned(), body)
}

/// Book an order into a slot. `POST /v1/delivery-slots/{id}/bookings`.
pub fn book_slot(id: Uuid, body: BookingBody) -> Call<BookingBody> {
    Call::post(format!("/v1/delivery-slots/{id}/bookings"), body)
}

/// Give an order's place in a slot back. `POST /v1/delivery-slots/{id}/bookings/{order_id}/release`.
pub fn release_slot(id: Uuid, order_id: Uuid) -> Call<NoBody> {
    Call::post(
        format!("/v1/delivery-slots/{id}/bookings/{order_id}/release"),
        NoBody {},
    )
}

/// Register a rider. `POST /v1/riders`.
pub fn register_rider(body: RiderBody) -> Call<RiderBody> {
    Call::post("/v1/riders".to_owned(), body)
}

/// Set a rider's shift and position. `POST /v1/riders/{id}/availability`.
pub fn rider_availability(id: Uuid, body: AvailabilityBody) -> Call<AvailabilityBody> {
    Call::post(format!("/v1/riders/{id}/availability"), body)
}

/// Give a rider a delivery. `POST /v1/riders/{id}/assignments`.
pub fn assign_rider(id: Uuid, body: AssignmentBody) -> Call<AssignmentBody> {
    Call::post(format!("/v1/riders/{id}/assignments"), body)
}

/// Free a rider of a delivery. `POST /v1/riders/{id}/assignments/{delivery_id}/release`.
pub fn release_rider(id: Uuid, delivery_id: Uuid) -> Call<NoBody> {
    Call::post(
        format!("/v1/riders/{id}/assignments/{delivery_id}/release"),
        NoBody {},
    )
}

/// Schedule an order's delivery. `POST /v1/deliveries`.
pub fn schedule_delivery(body: ScheduleBody) -> Call<ScheduleBody> {
    Call::post("/v1/deliveries".to_owned(), body)
}

/// Record the rider a delivery got. `POST /v1/deliveries/{id}/assign`.
pub fn record_delivery_rider(id: Uuid, body: AssignBody) -> Call<AssignBody> {
    Call::post(format!("/v1/deliveries/{id}/assign"), body)
}

/// Cancel a delivery. `POST /v1/deliveries/{id}/cancel`.
pub fn cancel_delivery(id: Uuid, body: FreeReasonBody) -> Call<FreeReasonBody> {
    Call::post(format!("/v1/deliveries/{id}/cancel"), body)
}

/// The rider picked a delivery up. `POST /v1/deliveries/{id}/pickup`.
pub fn pick_up(id: Uuid) -> Call<NoBody> {
    Call::post(format!("/v1/deliveries/{id}/pickup"), NoBody {})
}

/// The rider's position on a delivery. `POST /v1/deliveries/{id}/location`.
pub fn delivery_location(id: Uuid, body: GeoBody) -> Call<GeoBody> {
    Call::post(format!("/v1/deliveries/{id}/location"), body)
}

/// The rider handed a delivery over. `POST /v1/deliveries/{id}/deliver`.
pub fn complete_delivery(id: Uuid) -> Call<NoBody> {
    Call::post(format!("/v1/deliveries/{id}/deliver"), NoBody {})
}

/// A delivery could not be made. `POST /v1/deliveries/{id}/fail`.
pub fn fail_delivery(id: Uuid, body: FreeReasonBody) -> Call<FreeReasonBody> {
    Call::post(format!("/v1/deliveries/{id}/fail"), body)
}
