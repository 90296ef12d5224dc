/**
 * "Copy as cURL" in the detail pane: the request as a curl command that sends it again as the app did, through its
 * caller's outbound sidecar (lib/curl.ts); says when the body had to be left out. For a request still in flight
 * (`pending`) it is the request as sent so far: method, URL and the headers known at its start, no body.
 */
import { useEffect, useState } from 'react';
import type { FlowRecord } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { curlFor } from '../lib/curl.js';

export function CopyCurlButton({
  flow,
  loading = false,
  pending = false
}: {
  flow: FlowRecord;
  loading?: boolean;
  pending?: boolean;
}) {
  const workloads = useMesh((s) => s.workloads);
  const [copied, setCopied] = useState<'idle' | 'copied' | 'partial' | 'failed'>('idle');
  useEffect(() => setCopied('idle'), [flow.id]);
  const caller = flow.reporter === 'source' ? workloads.find((w) => w.name === flow.source) : undefined;
  const copy = async (): Promise<void> => {
    const { command, bodyLeftOut } = curlFor(flow, caller?.outbound?.port);
    try {
      await navigator.clipboard.writeText(command);
      setCopied(bodyLeftOut ? 'partial' : 'copied');
    } catch {
      setCopied('failed');
    }
  };
  const label =
    copied === 'copied'
      ? 'Copied'
      : copied === 'partial'
        ? 'Copied, without the body'
        : copied === 'failed'
          ? 'Copy failed'
          : 'Copy as cURL';
  const via = caller ? ` through ${caller.name}'s outbound sidecar` : '';
  return (
    <button
      type="button"
      className="btn btn-small"
      data-testid="flow-copy-curl"
      data-state={copied}
      disabled={loading}
      onClick={() => void copy()}
      title={
        pending
          ? `A curl command that sends this request${via} as it was sent so far: method, URL and the headers known at its start, without a body. Replay, compare and export come when it ends.`
          : `A curl command that sends this request again${via}`
      }
    >
      {label}
    </button>
  );
}
