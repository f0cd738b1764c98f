/**
 * The order workflow: charge the card, wait for a person to approve, ship; when shipping fails, refund and fail.
 *
 * Runs in the Worker's sandbox, so it imports only `@temporalio/workflow` and types.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type * as activities from './activities.js';
import type { Approval, OrderInput, OrderResult, OrderStatus } from './types.js';

/** Sent by a person (or `temporal workflow signal --name approve`) to let the order ship. */
export const approveSignal = defineSignal<[Approval]>('approve');
/** Where the order stands. */
export const statusQuery = defineQuery<OrderStatus>('status');

const { chargePayment, ship, refund } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, initialInterval: '200 milliseconds' },
});

export async function orderWorkflow(order: OrderInput): Promise<OrderResult> {
  let status: OrderStatus = 'charging';
  let approval: Approval | undefined;
  setHandler(statusQuery, () => status);
  setHandler(approveSignal, (value) => {
    approval = value;
  });

  const totalCents = order.items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);
  const charge = await chargePayment({ orderId: order.orderId, cardToken: order.cardToken, amountCents: totalCents });

  status = 'awaiting-approval';
  const approved = await condition(() => approval !== undefined, order.approvalTimeout ?? '1 hour');
  if (!approved || !approval) {
    status = 'refunding';
    await refund({
      orderId: order.orderId,
      chargeId: charge.chargeId,
      cardToken: order.cardToken,
      amountCents: totalCents,
    });
    status = 'failed';
    throw ApplicationFailure.nonRetryable(`order ${order.orderId} was not approved in time`, 'OrderNotApproved');
  }

  status = 'shipping';
  let trackingNumber: string;
  try {
    ({ trackingNumber } = await ship({
      orderId: order.orderId,
      customer: order.customer,
      items: order.items,
      simulateFailure: order.simulateShippingFailure ?? false,
    }));
  } catch (error) {
    if (!(error instanceof ActivityFailure)) throw error;
    status = 'refunding';
    const { refundId } = await refund({
      orderId: order.orderId,
      chargeId: charge.chargeId,
      cardToken: order.cardToken,
      amountCents: totalCents,
    });
    status = 'failed';
    // Failure messages are stored by Temporal too: with the package's failure converter they are encrypted like
    // payloads, so naming the card token here does not leak it (the integration tests check exactly that).
    throw ApplicationFailure.create({
      message: `order ${order.orderId} could not be shipped; refund ${refundId} issued to card ${order.cardToken}`,
      type: 'OrderShippingFailed',
      nonRetryable: true,
      cause: error,
    });
  }

  status = 'shipped';
  return {
    orderId: order.orderId,
    status: 'shipped',
    customerName: order.customer.name,
    shippedTo: order.customer.address,
    chargeId: charge.chargeId,
    trackingNumber,
    approvedBy: approval.approvedBy,
    itemCount: order.items.reduce((sum, item) => sum + item.quantity, 0),
    totalCents,
    notesLength: order.notes.length,
  };
}
