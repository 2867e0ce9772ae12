import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { createPublicClient, createWalletClient, http } from "viem";
import type { Abi, Address, ContractFunctionArgs, ContractFunctionName, Hex, TransactionReceipt } from "viem";
import { privateKeyToAccount } from "viem/accounts";

declare module "fastify" {
  interface FastifyInstance {
    /** The API's transaction sender, when it has a `relayerKey`. */
    relayer: Relayer | undefined;
  }
}

/** A contract write the relayer sends. */
export type RelayedWrite<abi extends Abi, name extends ContractFunctionName<abi, "nonpayable">> = {
  address: Address;
  abi: abi;
  functionName: name;
  args: ContractFunctionArgs<abi, "nonpayable", name>;
};

/**
 * Sends the API's own transactions from one key, one at a time (so nonces never collide), each
 * simulated first: a write that would revert costs no gas and rejects with viem's decoded error.
 * The queue is per process and nonces are taken from the node, so each API instance needs its own
 * relayer key: two processes sending from one key would race for nonces and replace each other's
 * transactions. `send` resolves only with the receipt of the transaction it sent; if that
 * transaction was replaced (same nonce, another transaction mined), it rejects with
 * {@link RelayerTransactionReplacedError}, whose outcome, like a receipt timeout's, is unknown.
 */
export type Relayer = {
  address: Address;
  simulate: <abi extends Abi, name extends ContractFunctionName<abi, "nonpayable">>(write: RelayedWrite<abi, name>) => Promise<void>;
  send: <abi extends Abi, name extends ContractFunctionName<abi, "nonpayable">>(write: RelayedWrite<abi, name>) => Promise<{ hash: Hex; receipt: TransactionReceipt }>;
};

/** `send`'s transaction was replaced by another with its nonce: whether the write happened is not known. */
export class RelayerTransactionReplacedError extends Error {
  override name = "RelayerTransactionReplacedError";
  readonly hash: Hex;
  readonly replacement: Hex;
  constructor(hash: Hex, replacement: Hex) {
    super(`Transaction ${hash} was replaced by ${replacement}`);
    this.hash = hash;
    this.replacement = replacement;
  }
}

export default fp(
  async function relayer(app: FastifyInstance, { rpcUrl, chainId, key }: { rpcUrl: string; chainId: number; key: Hex | undefined }) {
    if (key === undefined) {
      app.decorate("relayer", undefined);
      return;
    }
    const account = privateKeyToAccount(key);
    const chain = { id: chainId, name: `chain ${chainId}`, nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } };
    const transport = http(rpcUrl, { timeout: 30_000 });
    const publicClient = createPublicClient({ chain, transport, pollingInterval: 100 });
    const walletClient = createWalletClient({ account, chain, transport });
    let queue: Promise<unknown> = Promise.resolve();

    const simulate: Relayer["simulate"] = async (write) => {
      await publicClient.simulateContract({ ...(write as RelayedWrite<Abi, string>), account } as never);
    };
    const send: Relayer["send"] = (write) => {
      const run = async () => {
        const { request } = await publicClient.simulateContract({ ...(write as RelayedWrite<Abi, string>), account } as never);
        const hash = await walletClient.writeContract(request as never);
        // viem resolves with a replacement's receipt when the nonce was taken by another transaction.
        const receipt = await publicClient.waitForTransactionReceipt({ hash });
        if (receipt.transactionHash.toLowerCase() !== hash.toLowerCase()) throw new RelayerTransactionReplacedError(hash, receipt.transactionHash);
        return { hash, receipt };
      };
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    };
    app.decorate("relayer", { address: account.address, simulate, send });
  },
  { name: "relayer" },
);
