import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";

import { signVoucher } from "../typedData.ts";
import { ChargedTotalMismatchError, SpendLimitError } from "./errors.ts";
import { SpendBudget } from "./spendBudget.ts";
import { VoucherBook } from "./voucherBook.ts";

const agent = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" as const;
const alpha = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as const;
const beta = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65" as const;

/** A book for one provider's track that really signs, and remembers what it signed. */
function track(provider: `0x${string}`, budget: SpendBudget, { failNext = { value: false } } = {}) {
  const signed: bigint[] = [];
  const book = new VoucherBook({
    budget,
    sign: async (maxCumulative) => {
      if (failNext.value) {
        failNext.value = false;
        throw new Error("the signer is offline");
      }
      signed.push(maxCumulative);
      return signVoucher(agent, { chainId: 31337, escrow, account: agent.address, provider, maxCumulative });
    },
  });
  return { book, signed };
}

describe("voucher books of one escrow share its budget", () => {
  it("keeps each provider's track cumulative on its own, and bounds the sum of their highest vouchers by maxSpend", async () => {
    const budget = new SpendBudget({ maxSpend: 100n });
    const a = track(alpha, budget);
    const b = track(beta, budget);
    const first = await a.book.sign(30n);
    first.settle(30n);
    const second = await b.book.sign(50n);
    second.settle(50n);
    expect([a.signed, b.signed]).toEqual([[30n], [50n]]);
    expect(budget.signed).toBe(80n);

    // Alpha's next voucher (60) with beta's 50 would be 110.
    const refused = await a.book.sign(30n).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SpendLimitError);
    expect(refused).toMatchObject({ maxSpend: 100n, wouldSign: 60n, signedElsewhere: 50n });
    expect(a.book.inFlight).toBe(0n);
    expect(budget.signed).toBe(80n);
    // 20 fits exactly.
    const third = await a.book.sign(20n);
    expect(third.maxCumulative).toBe(50n);
    expect(budget.signed).toBe(100n);
    third.settle();
    // A voucher below the track's highest costs the budget nothing more.
    const again = await a.book.sign(20n);
    expect(again.maxCumulative).toBe(50n);
    expect(budget.signed).toBe(100n);
  });

  it("never lets concurrent calls on two tracks sign past maxSpend together", async () => {
    const budget = new SpendBudget({ maxSpend: 100n });
    const a = track(alpha, budget);
    const b = track(beta, budget);
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).book.sign(15n)));
    const signedTotal = a.signed.reduce((x, y) => (x > y ? x : y), 0n) + b.signed.reduce((x, y) => (x > y ? x : y), 0n);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(6);
    expect(outcomes.filter((o) => o.status === "rejected").every((o) => (o as PromiseRejectedResult).reason instanceof SpendLimitError)).toBe(true);
    expect(signedTotal).toBe(90n);
    expect(budget.signed).toBe(90n);
  });

  it("gives the budget back when signing fails, or when the claim is not believed", async () => {
    const budget = new SpendBudget({ maxSpend: 100n });
    const failNext = { value: true };
    const a = track(alpha, budget, { failNext });
    await expect(a.book.sign(40n)).rejects.toThrow("the signer is offline");
    expect([budget.signed, a.book.inFlight, a.book.signedMax]).toEqual([0n, 0n, 0n]);

    a.book.observeClaim(50n);
    await expect(a.book.sign(10n, { maxCatchUp: 10n })).rejects.toBeInstanceOf(ChargedTotalMismatchError);
    expect(budget.signed).toBe(0n);
    const caughtUp = await a.book.sign(10n, { maxCatchUp: 50n });
    expect(caughtUp.maxCumulative).toBe(60n);
    expect(budget.signed).toBe(60n);
  });

  it("has no bound without maxSpend, and a book without a budget has its own", async () => {
    const unbounded = track(alpha, new SpendBudget());
    expect((await unbounded.book.sign(10n ** 30n)).maxCumulative).toBe(10n ** 30n);
    const alone = new VoucherBook({ maxSpend: 5n, sign: (maxCumulative) => signVoucher(agent, { chainId: 31337, escrow, account: agent.address, provider: alpha, maxCumulative }) });
    await expect(alone.sign(6n)).rejects.toMatchObject({ name: "SpendLimitError", wouldSign: 6n, signedElsewhere: 0n });
  });
});
