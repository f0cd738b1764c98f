/** The data of the sample order workflow: shared by the workflow, the activities, the worker and the client. */

/** One line of an order. */
export interface OrderItem {
  sku: string;
  name: string;
  quantity: number;
  unitPriceCents: number;
}

/** Who the order is for: personal data that must never reach the Temporal server in clear text. */
export interface Customer {
  name: string;
  email: string;
  address: string;
}

/** The workflow's input. `notes` is free text and often long, so the payload crosses the compression threshold. */
export interface OrderInput {
  orderId: string;
  customer: Customer;
  /** A payment-provider card token: a secret. */
  cardToken: string;
  items: OrderItem[];
  notes: string;
  /** Makes the `ship` activity fail (the carrier rejects the parcel), to exercise the refund path. */
  simulateShippingFailure?: boolean;
  /** How long to wait for the `approve` signal; default one hour. */
  approvalTimeout?: string;
}

/** The argument of the `approve` signal. */
export interface Approval {
  approvedBy: string;
  comment?: string;
}

/** The workflow's result. */
export interface OrderResult {
  orderId: string;
  status: 'shipped';
  customerName: string;
  shippedTo: string;
  chargeId: string;
  trackingNumber: string;
  approvedBy: string;
  itemCount: number;
  totalCents: number;
  notesLength: number;
}

/** What the `status` query reports. */
export type OrderStatus = 'charging' | 'awaiting-approval' | 'shipping' | 'refunding' | 'shipped' | 'failed';

export interface ChargeRequest {
  orderId: string;
  cardToken: string;
  amountCents: number;
}

export interface Charge {
  chargeId: string;
  amountCents: number;
}

export interface ShipRequest {
  orderId: string;
  customer: Customer;
  items: OrderItem[];
  simulateFailure: boolean;
}

export interface Shipment {
  trackingNumber: string;
}

export interface RefundRequest {
  orderId: string;
  chargeId: string;
  cardToken: string;
  amountCents: number;
}

export interface Refund {
  refundId: string;
}
