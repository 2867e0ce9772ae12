import { keccak256, serializeTransaction } from "viem";
import type { Hash, Hex, PublicClient } from "viem";

/**
 * The signed, serialized bytes of a mined transaction (what the node received and what an OP Stack
 * chain prices for L1 data), rebuilt from the node's record of it and checked against its hash:
 * only the exact signed bytes hash to it.
 *
 * @example
 * const raw = await getSignedTransaction(publicClient, receipt.transactionHash);
 */
export async function getSignedTransaction(publicClient: PublicClient, hash: Hash): Promise<Hex> {
  const tx = await publicClient.getTransaction({ hash });
  if (tx.type !== "eip1559") throw new Error(`transaction ${hash} is of type ${tx.type}; only EIP-1559 transactions are rebuilt`);
  const serialized = serializeTransaction(
    {
      type: "eip1559",
      chainId: tx.chainId,
      nonce: tx.nonce,
      gas: tx.gas,
      maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
      to: tx.to,
      value: tx.value,
      data: tx.input,
      accessList: tx.accessList,
    },
    { r: tx.r, s: tx.s, yParity: tx.yParity },
  );
  if (keccak256(serialized) !== hash) throw new Error(`the rebuilt bytes of transaction ${hash} do not hash to it`);
  return serialized;
}
