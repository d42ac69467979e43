//! The buses the order, payment and delivery routes run their commands on (and the catalog
//! and supplier reads a placement needs).

use domain::delivery::Delivery;
use domain::order::Order;
use domain::payment::Payment;
use domain::product::Product;
use domain::rider::Rider;
use domain::slot::DeliverySlot;
use domain::Supplier;
use platform::bus::CommandBus;

/// The buses of fulfilment.
#[derive(Debug)]
pub struct FulfilmentService {
    pub(crate) orders: CommandBus<Order>,
    pub(crate) payments: CommandBus<Payment>,
    pub(crate) deliveries: CommandBus<Delivery>,
    pub(crate) slots: CommandBus<DeliverySlot>,
    pub(crate) riders: CommandBus<Rider>,
    pub(crate) products: CommandBus<Product>,
    pub(crate) suppliers: CommandBus<Supplier>,
}
