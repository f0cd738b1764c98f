/**
 * Activities of the order workflow. They stand in for a payment provider and a carrier: no network calls, and
 * nothing they log holds personal data or the card token.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Charge, ChargeRequest, Refund, RefundRequest, Shipment, ShipRequest } from './types.js';

export async function chargePayment(request: ChargeRequest): Promise<Charge> {
  if (!request.cardToken.startsWith('tok_')) {
    throw ApplicationFailure.nonRetryable(`order ${request.orderId}: the card token is malformed`, 'InvalidCardToken');
  }
  return { chargeId: `ch_${randomUUID().replaceAll('-', '').slice(0, 24)}`, amountCents: request.amountCents };
}

export async function ship(request: ShipRequest): Promise<Shipment> {
  if (request.simulateFailure) {
    // The message names the customer, as a real carrier error would: the failure converter encrypts it.
    throw ApplicationFailure.nonRetryable(
      `carrier rejected the parcel for ${request.customer.email} at ${request.customer.address}`,
      'ShippingRejected',
    );
  }
  return { trackingNumber: `1Z${randomUUID().replaceAll('-', '').slice(0, 16).toUpperCase()}` };
}

export async function refund(request: RefundRequest): Promise<Refund> {
  return { refundId: `re_${request.chargeId.slice(3, 15)}${randomUUID().slice(0, 8)}` };
}
