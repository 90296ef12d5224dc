/** Envoy response flags, joined in Envoy's own order (the order of its ResponseFlag enum). */
const ORDER = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'URX',
  'SI',
  'IH',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
  'DO'
];
const RANK = new Map(ORDER.map((f, i) => [f, i]));

export function joinFlags(flags: Iterable<string>): string {
  const list = [...new Set(flags)].sort((a, b) => (RANK.get(a) ?? 99) - (RANK.get(b) ?? 99));
  return list.length === 0 ? '-' : list.join(',');
}
