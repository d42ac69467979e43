//! One function per command-api route: the path with its ids filled in, and the body the
//! route reads. Callers send what these return; nobody else builds a command path. [`ROUTES`]
//! lists every route's method and path template, so command-api's tests can hold its OpenAPI
//! document to them.

use super::*;
use uuid::Uuid;

/// The path templates, one per route (`{id}`-style placeholders, filled in order).
const REGISTER_SUPPLIER: &str = "/v1/suppliers";
const SUBMIT_DOCUMENT: &str = "/v1/suppliers/{id}/documents";
const APPROVE_SUPPLIER: &str = "/v1/suppliers/{id}/approve";
const REJECT_SUPPLIER: &str = "/v1/suppliers/{id}/reject";
const SUSPEND_SUPPLIER: &str = "/v1/suppliers/{id}/suspend";
const REINSTATE_SUPPLIER: &str = "/v1/suppliers/{id}/reinstate";
const LIST_PRODUCT: &str = "/v1/suppliers/{id}/products";
const LIST_PRODUCTS: &str = "/v1/suppliers/{id}/products/bulk";
const RECEIVE_BATCHES: &str = "/v1/inventory/batches/bulk";
const UPDATE_PRODUCT: &str = "/v1/products/{id}";
const DISCONTINUE_PRODUCT: &str = "/v1/products/{id}/discontinue";
const IMAGE_PROCESSED: &str = "/v1/products/{id}/images/{image_id}/processed";
const IMAGE_FAILED: &str = "/v1/products/{id}/images/{image_id}/failed";
const RECEIVE_BATCH: &str = "/v1/inventory/batches";
const RESERVE_STOCK: &str = "/v1/inventory/batches/{id}/reservations";
const RELEASE_RESERVATION: &str = "/v1/inventory/batches/{id}/reservations/{order_id}/release";
const COMMIT_RESERVATION: &str = "/v1/inventory/batches/{id}/reservations/{order_id}/commit";
const RECORD_SPOILAGE: &str = "/v1/inventory/batches/{id}/spoilage";
const EXPIRE_BATCH: &str = "/v1/inventory/batches/{id}/expire";
const ASSESS_STOCK: &str = "/v1/inventory/stock-alerts";
const FLAG_EXPIRING_SOON: &str = "/v1/inventory/batches/{id}/expiring-soon";
const PLACE_ORDER: &str = "/v1/orders";
const CANCEL_ORDER: &str = "/v1/orders/{id}/cancel";
const PACK_ORDER: &str = "/v1/orders/{id}/pack";
const ORDER_PAID: &str = "/v1/orders/{id}/paid";
const SHIP_ORDER: &str = "/v1/orders/{id}/ship";
const DELIVER_ORDER: &str = "/v1/orders/{id}/deliver";
const COMPENSATE_ORDER: &str = "/v1/orders/{id}/compensate";
const FORCE_COMPENSATION: &str = "/v1/ops/orders/{id}/compensate";
const RECORD_ORDER_REFUND: &str = "/v1/orders/{id}/refunds";
const INITIATE_PAYMENT: &str = "/v1/payments";
const PAYMENT_AUTHORIZED: &str = "/v1/payments/{id}/authorized";
const PAYMENT_CAPTURED: &str = "/v1/payments/{id}/captured";
const PAYMENT_DECLINED: &str = "/v1/payments/{id}/declined";
const CANCEL_PAYMENT: &str = "/v1/payments/{id}/cancel";
const REQUEST_PAYMENT_REFUND: &str = "/v1/payments/{id}/refunds";
const PAYMENT_REFUND_COMPLETED: &str = "/v1/payments/{id}/refunds/{refund_id}/completed";
const REFUND_PAYMENT: &str = "/v1/payments/{id}/refund";
const CREATE_SLOT: &str = "/v1/delivery-slots";
const BOOK_SLOT: &str = "/v1/delivery-slots/{id}/bookings";
const RELEASE_SLOT: &str = "/v1/delivery-slots/{id}/bookings/{order_id}/release";
const REGISTER_RIDER: &str = "/v1/riders";
const RIDER_AVAILABILITY: &str = "/v1/riders/{id}/availability";
const ASSIGN_RIDER: &str = "/v1/riders/{id}/assignments";
const RELEASE_RIDER: &str = "/v1/riders/{id}/assignments/{delivery_id}/release";
const SCHEDULE_DELIVERY: &str = "/v1/deliveries";
const RECORD_DELIVERY_RIDER: &str = "/v1/deliveries/{id}/assign";
const CANCEL_DELIVERY: &str = "/v1/deliveries/{id}/cancel";
const PICK_UP: &str = "/v1/deliveries/{id}/pickup";
const DELIVERY_LOCATION: &str = "/v1/deliveries/{id}/location";
const COMPLETE_DELIVERY: &str = "/v1/deliveries/{id}/deliver";
const FAIL_DELIVERY: &str = "/v1/deliveries/{id}/fail";
const ABANDON_CART: &str = "/v1/carts/{id}/abandon";
const REGISTER_CUSTOMER: &str = "/v1/customers/me";
const ADD_ADDRESS: &str = "/v1/customers/me/addresses";
const SET_PREFERENCES: &str = "/v1/customers/me/preferences";
const SET_CONSENT: &str = "/v1/customers/me/consent";
const SET_CART_LINE: &str = "/v1/carts/current/lines/{product_id}";

/// Every route the functions here call: its method and path template.
pub const ROUTES: &[(Method, &str)] = &[
    (Method::Post, REGISTER_SUPPLIER),
    (Method::Post, SUBMIT_DOCUMENT),
    (Method::Post, APPROVE_SUPPLIER),
    (Method::Post, REJECT_SUPPLIER),
    (Method::Post, SUSPEND_SUPPLIER),
    (Method::Post, REINSTATE_SUPPLIER),
    (Method::Post, LIST_PRODUCT),
    (Method::Post, LIST_PRODUCTS),
    (Method::Post, RECEIVE_BATCHES),
    (Method::Patch, UPDATE_PRODUCT),
    (Method::Post, DISCONTINUE_PRODUCT),
    (Method::Post, IMAGE_PROCESSED),
    (Method::Post, IMAGE_FAILED),
    (Method::Post, RECEIVE_BATCH),
    (Method::Post, RESERVE_STOCK),
    (Method::Post, RELEASE_RESERVATION),
    (Method::Post, COMMIT_RESERVATION),
    (Method::Post, RECORD_SPOILAGE),
    (Method::Post, EXPIRE_BATCH),
    (Method::Post, ASSESS_STOCK),
    (Method::Post, FLAG_EXPIRING_SOON),
    (Method::Post, PLACE_ORDER),
    (Method::Post, CANCEL_ORDER),
    (Method::Post, PACK_ORDER),
    (Method::Post, ORDER_PAID),
    (Method::Post, SHIP_ORDER),
    (Method::Post, DELIVER_ORDER),
    (Method::Post, COMPENSATE_ORDER),
    (Method::Post, FORCE_COMPENSATION),
    (Method::Post, RECORD_ORDER_REFUND),
    (Method::Post, INITIATE_PAYMENT),
    (Method::Post, PAYMENT_AUTHORIZED),
    (Method::Post, PAYMENT_CAPTURED),
    (Method::Post, PAYMENT_DECLINED),
    (Method::Post, CANCEL_PAYMENT),
    (Method::Post, REQUEST_PAYMENT_REFUND),
    (Method::Post, PAYMENT_REFUND_COMPLETED),
    (Method::Post, REFUND_PAYMENT),
    (Method::Post, CREATE_SLOT),
    (Method::Post, BOOK_SLOT),
    (Method::Post, RELEASE_SLOT),
    (Method::Post, REGISTER_RIDER),
    (Method::Post, RIDER_AVAILABILITY),
    (Method::Post, ASSIGN_RIDER),
    (Method::Post, RELEASE_RIDER),
    (Method::Post, SCHEDULE_DELIVERY),
    (Method::Post, RECORD_DELIVERY_RIDER),
    (Method::Post, CANCEL_DELIVERY),
    (Method::Post, PICK_UP),
    (Method::Post, DELIVERY_LOCATION),
    (Method::Post, COMPLETE_DELIVERY),
    (Method::Post, FAIL_DELIVERY),
    (Method::Post, ABANDON_CART),
    (Method::Post, REGISTER_CUSTOMER),
    (Method::Post, ADD_ADDRESS),
    (Method::Put, SET_PREFERENCES),
    (Method::Put, SET_CONSENT),
    (Method::Put, SET_CART_LINE),
];

/// `template` with its placeholders replaced by `ids`, in order.
fn fill(template: &str, ids: &[Uuid]) -> String {
    let mut path = String::with_capacity(template.len() + 36 * ids.len());
    let mut ids = ids.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        if let Some(id) = ids.next() {
            path.push_str(&id.to_string());
        }
        rest = &rest[close..];
    }
    path.push_str(rest);
    path
}

/// Register a supplier. `POST /v1/suppliers`.
pub fn register_supplier(body: RegisterSupplierBody) -> Call<RegisterSupplierBody> {
    Call::post(fill(REGISTER_SUPPLIER, &[]), body)
}

/// Submit a supplier's document. `POST /v1/suppliers/{id}/documents`.
pub fn submit_document(id: Uuid, body: SubmitDocumentBody) -> Call<SubmitDocumentBody> {
    Call::post(fill(SUBMIT_DOCUMENT, &[id]), body)
}

/// Approve a supplier. `POST /v1/suppliers/{id}/approve`.
pub fn approve_supplier(id: Uuid, body: NoteBody) -> Call<NoteBody> {
    Call::post(fill(APPROVE_SUPPLIER, &[id]), body)
}

/// Reject a supplier. `POST /v1/suppliers/{id}/reject`.
pub fn reject_supplier(id: Uuid, body: ReasonBody) -> Call<ReasonBody> {
    Call::post(fill(REJECT_SUPPLIER, &[id]), body)
}

/// Suspend a supplier. `POST /v1/suppliers/{id}/suspend`.
pub fn suspend_supplier(id: Uuid, body: SuspendBody) -> Call<SuspendBody> {
    Call::post(fill(SUSPEND_SUPPLIER, &[id]), body)
}

/// Reinstate a supplier. `POST /v1/suppliers/{id}/reinstate`.
pub fn reinstate_supplier(id: Uuid, body: NoteBody) -> Call<NoteBody> {
    Call::post(fill(REINSTATE_SUPPLIER, &[id]), body)
}

/// List a product for a supplier. `POST /v1/suppliers/{id}/products`.
pub fn list_product(id: Uuid, body: ListProductBody) -> Call<ListProductBody> {
    Call::post(fill(LIST_PRODUCT, &[id]), body)
}

/// List many products for a supplier. `POST /v1/suppliers/{id}/products/bulk`.
pub fn list_products(id: Uuid, body: BulkListBody) -> Call<BulkListBody> {
    Call::post(fill(LIST_PRODUCTS, &[id]), body)
}

/// Receive many batches. `POST /v1/inventory/batches/bulk`.
pub fn receive_batches(body: BulkReceiveBody) -> Call<BulkReceiveBody> {
    Call::post(fill(RECEIVE_BATCHES, &[]), body)
}

/// Update a product (`PATCH`). `PATCH /v1/products/{id}`.
pub fn update_product(id: Uuid, body: UpdateProductBody) -> Call<UpdateProductBody> {
    Call::patch(fill(UPDATE_PRODUCT, &[id]), body)
}

/// Discontinue a product. `POST /v1/products/{id}/discontinue`.
pub fn discontinue_product(id: Uuid, body: ReasonBody) -> Call<ReasonBody> {
    Call::post(fill(DISCONTINUE_PRODUCT, &[id]), body)
}

/// Record a processed image. `POST /v1/products/{id}/images/{image_id}/processed`.
pub fn image_processed(
    id: Uuid,
    image_id: Uuid,
    body: ImageProcessedBody,
) -> Call<ImageProcessedBody> {
    Call::post(fill(IMAGE_PROCESSED, &[id, image_id]), body)
}

/// Record a failed image. `POST /v1/products/{id}/images/{image_id}/failed`.
pub fn image_failed(id: Uuid, image_id: Uuid, body: ReasonBody) -> Call<ReasonBody> {
    Call::post(fill(IMAGE_FAILED, &[id, image_id]), body)
}

/// Receive a batch. `POST /v1/inventory/batches`.
pub fn receive_batch(body: ReceiveBatchBody) -> Call<ReceiveBatchBody> {
    Call::post(fill(RECEIVE_BATCH, &[]), body)
}

/// Reserve stock of a batch for an order. `POST /v1/inventory/batches/{id}/reservations`.
pub fn reserve_stock(id: Uuid, body: ReserveBody) -> Call<ReserveBody> {
    Call::post(fill(RESERVE_STOCK, &[id]), body)
}

/// Release an order's reservation of a batch. `POST /v1/inventory/batches/{id}/reservations/{order_id}/release`.
pub fn release_reservation(id: Uuid, order_id: Uuid) -> Call<NoBody> {
    Call::post(fill(RELEASE_RESERVATION, &[id, order_id]), NoBody {})
}

/// Commit an order's reservation of a batch. `POST /v1/inventory/batches/{id}/reservations/{order_id}/commit`.
pub fn commit_reservation(id: Uuid, order_id: Uuid) -> Call<NoBody> {
    Call::post(fill(COMMIT_RESERVATION, &[id, order_id]), NoBody {})
}

/// Record spoilage of a batch. `POST /v1/inventory/batches/{id}/spoilage`.
pub fn record_spoilage(id: Uuid, body: SpoilageBody) -> Call<SpoilageBody> {
    Call::post(fill(RECORD_SPOILAGE, &[id]), body)
}

/// Expire a batch. `POST /v1/inventory/batches/{id}/expire`.
pub fn expire_batch(id: Uuid) -> Call<NoBody> {
    Call::post(fill(EXPIRE_BATCH, &[id]), NoBody {})
}

/// Assess a product's stock in a warehouse. `POST /v1/inventory/stock-alerts`.
pub fn assess_stock(body: AssessBody) -> Call<AssessBody> {
    Call::post(fill(ASSESS_STOCK, &[]), body)
}

/// Flag a batch as expiring soon. `POST /v1/inventory/batches/{id}/expiring-soon`.
pub fn flag_expiring_soon(id: Uuid, body: ExpiringSoonBody) -> Call<ExpiringSoonBody> {
    Call::post(fill(FLAG_EXPIRING_SOON, &[id]), body)
}

/// Place an order. `POST /v1/orders`.
pub fn place_order(body: PlaceOrderBody) -> Call<PlaceOrderBody> {
    Call::post(fill(PLACE_ORDER, &[]), body)
}

/// Cancel an order. `POST /v1/orders/{id}/cancel`.
pub fn cancel_order(id: Uuid, body: CancelBody) -> Call<CancelBody> {
    Call::post(fill(CANCEL_ORDER, &[id]), body)
}

/// Mark an order packed. `POST /v1/orders/{id}/pack`.
pub fn pack_order(id: Uuid) -> Call<NoBody> {
    Call::post(fill(PACK_ORDER, &[id]), NoBody {})
}

/// Mark an order paid. `POST /v1/orders/{id}/paid`.
pub fn order_paid(id: Uuid, body: PaidBody) -> Call<PaidBody> {
    Call::post(fill(ORDER_PAID, &[id]), body)
}

/// Mark an order shipped. `POST /v1/orders/{id}/ship`.
pub fn ship_order(id: Uuid, body: ShipBody) -> Call<ShipBody> {
    Call::post(fill(SHIP_ORDER, &[id]), body)
}

/// Mark an order delivered. `POST /v1/orders/{id}/deliver`.
pub fn deliver_order(id: Uuid, body: DeliverBody) -> Call<DeliverBody> {
    Call::post(fill(DELIVER_ORDER, &[id]), body)
}

/// Cancel an order as the saga compensates. `POST /v1/orders/{id}/compensate`.
pub fn compensate_order(id: Uuid, body: CompensateBody) -> Call<CompensateBody> {
    Call::post(fill(COMPENSATE_ORDER, &[id]), body)
}

/// An operator forces an order's compensation. `POST /v1/ops/orders/{id}/compensate`.
pub fn force_compensation(id: Uuid, body: ForceCompensationBody) -> Call<ForceCompensationBody> {
    Call::post(fill(FORCE_COMPENSATION, &[id]), body)
}

/// Record a refund against an order. `POST /v1/orders/{id}/refunds`.
pub fn record_order_refund(id: Uuid, body: RecordRefundBody) -> Call<RecordRefundBody> {
    Call::post(fill(RECORD_ORDER_REFUND, &[id]), body)
}

/// Open an order's payment. `POST /v1/payments`.
pub fn initiate_payment(body: InitiateBody) -> Call<InitiateBody> {
    Call::post(fill(INITIATE_PAYMENT, &[]), body)
}

/// Record the gateway's authorisation. `POST /v1/payments/{id}/authorized`.
pub fn payment_authorized(id: Uuid, body: GatewayResultBody) -> Call<GatewayResultBody> {
    Call::post(fill(PAYMENT_AUTHORIZED, &[id]), body)
}

/// Record the gateway's capture. `POST /v1/payments/{id}/captured`.
pub fn payment_captured(id: Uuid, body: GatewayResultBody) -> Call<GatewayResultBody> {
    Call::post(fill(PAYMENT_CAPTURED, &[id]), body)
}

/// Record the gateway's decline. `POST /v1/payments/{id}/declined`.
pub fn payment_declined(id: Uuid, body: DeclinedBody) -> Call<DeclinedBody> {
    Call::post(fill(PAYMENT_DECLINED, &[id]), body)
}

/// Cancel a payment. `POST /v1/payments/{id}/cancel`.
pub fn cancel_payment(id: Uuid, body: CancelPaymentBody) -> Call<CancelPaymentBody> {
    Call::post(fill(CANCEL_PAYMENT, &[id]), body)
}

/// The saga requests a refund of a payment. `POST /v1/payments/{id}/refunds`.
pub fn request_payment_refund(id: Uuid, body: SagaRefundBody) -> Call<SagaRefundBody> {
    Call::post(fill(REQUEST_PAYMENT_REFUND, &[id]), body)
}

/// Record a refund the gateway paid. `POST /v1/payments/{id}/refunds/{refund_id}/completed`.
pub fn payment_refund_completed(
    id: Uuid,
    refund_id: Uuid,
    body: RefundCompletedBody,
) -> Call<RefundCompletedBody> {
    Call::post(fill(PAYMENT_REFUND_COMPLETED, &[id, refund_id]), body)
}

/// An operator refunds part of a payment. `POST /v1/payments/{id}/refund`.
pub fn refund_payment(id: Uuid, body: RefundBody) -> Call<RefundBody> {
    Call::post(fill(REFUND_PAYMENT, &[id]), body)
}

/// Open a delivery slot. `POST /v1/delivery-slots`.
pub fn create_slot(body: SlotBody) -> Call<SlotBody> {
    Call::post(fill(CREATE_SLOT, &[]), body)
}

/// Book an order into a slot. `POST /v1/delivery-slots/{id}/bookings`.
pub fn book_slot(id: Uuid, body: BookingBody) -> Call<BookingBody> {
    Call::post(fill(BOOK_SLOT, &[id]), body)
}

/// Give an order's place in a slot back. `POST /v1/delivery-slots/{id}/bookings/{order_id}/release`.
pub fn release_slot(id: Uuid, order_id: Uuid) -> Call<NoBody> {
    Call::post(fill(RELEASE_SLOT, &[id, order_id]), NoBody {})
}

/// Register a rider. `POST /v1/riders`.
pub fn register_rider(body: RiderBody) -> Call<RiderBody> {
    Call::post(fill(REGISTER_RIDER, &[]), body)
}

/// Set a rider's shift and position. `POST /v1/riders/{id}/availability`.
pub fn rider_availability(id: Uuid, body: AvailabilityBody) -> Call<AvailabilityBody> {
    Call::post(fill(RIDER_AVAILABILITY, &[id]), body)
}

/// Give a rider a delivery. `POST /v1/riders/{id}/assignments`.
pub fn assign_rider(id: Uuid, body: AssignmentBody) -> Call<AssignmentBody> {
    Call::post(fill(ASSIGN_RIDER, &[id]), body)
}

/// Free a rider of a delivery. `POST /v1/riders/{id}/assignments/{delivery_id}/release`.
pub fn release_rider(id: Uuid, delivery_id: Uuid) -> Call<NoBody> {
    Call::post(fill(RELEASE_RIDER, &[id, delivery_id]), NoBody {})
}

/// Schedule an order's delivery. `POST /v1/deliveries`.
pub fn schedule_delivery(body: ScheduleBody) -> Call<ScheduleBody> {
    Call::post(fill(SCHEDULE_DELIVERY, &[]), body)
}

/// Record the rider a delivery got. `POST /v1/deliveries/{id}/assign`.
pub fn record_delivery_rider(id: Uuid, body: AssignBody) -> Call<AssignBody> {
    Call::post(fill(RECORD_DELIVERY_RIDER, &[id]), body)
}

/// Cancel a delivery. `POST /v1/deliveries/{id}/cancel`.
pub fn cancel_delivery(id: Uuid, body: FreeReasonBody) -> Call<FreeReasonBody> {
    Call::post(fill(CANCEL_DELIVERY, &[id]), body)
}

/// The rider picked a delivery up. `POST /v1/deliveries/{id}/pickup`.
pub fn pick_up(id: Uuid) -> Call<NoBody> {
    Call::post(fill(PICK_UP, &[id]), NoBody {})
}

/// The rider's position on a delivery. `POST /v1/deliveries/{id}/location`.
pub fn delivery_location(id: Uuid, body: GeoBody) -> Call<GeoBody> {
    Call::post(fill(DELIVERY_LOCATION, &[id]), body)
}

/// The rider handed a delivery over. `POST /v1/deliveries/{id}/deliver`.
pub fn complete_delivery(id: Uuid) -> Call<NoBody> {
    Call::post(fill(COMPLETE_DELIVERY, &[id]), NoBody {})
}

/// A delivery could not be made. `POST /v1/deliveries/{id}/fail`.
pub fn fail_delivery(id: Uuid, body: FreeReasonBody) -> Call<FreeReasonBody> {
    Call::post(fill(FAIL_DELIVERY, &[id]), body)
}

/// `POST /v1/customers/me`: the caller's customer profile.
pub fn register_customer(body: CustomerBody) -> Call<CustomerBody> {
    Call::post(REGISTER_CUSTOMER.to_owned(), body)
}

/// `POST /v1/customers/me/addresses`.
pub fn add_address(body: AddAddressBody) -> Call<AddAddressBody> {
    Call::post(ADD_ADDRESS.to_owned(), body)
}

/// `PUT /v1/customers/me/preferences`.
pub fn set_preferences(body: PreferencesBody) -> Call<PreferencesBody> {
    Call::put(SET_PREFERENCES.to_owned(), body)
}

/// `PUT /v1/customers/me/consent`.
pub fn set_consent(body: ConsentBody) -> Call<ConsentBody> {
    Call::put(SET_CONSENT.to_owned(), body)
}

/// `PUT /v1/carts/current/lines/{product_id}`.
pub fn set_cart_line(product_id: Uuid, body: CartLineBody) -> Call<CartLineBody> {
    Call::put(fill(SET_CART_LINE, &[product_id]), body)
}

/// `POST /v1/carts/{id}/abandon`: the scheduler closes an idle cart (`id` is the customer's
/// cart stream).
pub fn abandon_cart(id: Uuid, body: AbandonCartBody) -> Call<AbandonCartBody> {
    Call::post(fill(ABANDON_CART, &[id]), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fill_the_placeholders_in_order() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(
            release_reservation(a, b).path,
            format!("/v1/inventory/batches/{a}/reservations/{b}/release")
        );
        assert_eq!(pack_order(a).path, format!("/v1/orders/{a}/pack"));
        assert_eq!(
            initiate_payment(InitiateBody { order_id: a }).path,
            "/v1/payments"
        );
        assert_eq!(fill("/v1/x/{id}", &[]), "/v1/x/");
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, template) in ROUTES {
            assert!(template.starts_with("/v1/"), "{template}");
            assert!(
                seen.insert((format!("{method:?}"), *template)),
                "{template} twice"
            );
        }
    }
}
