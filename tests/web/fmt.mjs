// tests/web/fmt.mjs — the dashboard's axis formats (web/src/fmt.js), in
// Node: every tick of an axis has one number of decimals and one unit.
import { moneyTicks, msTicks } from '../../web/src/fmt.js';

let failed = 0;
function check(what, got, want) {
  const ok = JSON.stringify(got) === JSON.stringify(want);
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok ? '' : `: got ${JSON.stringify(got)}, wanted ${JSON.stringify(want)}`}`);
}

check('money, step $0.02', moneyTicks([0, 0.02, 0.04, 0.06, 0.08, 0.1]), ['$0.00', '$0.02', '$0.04', '$0.06', '$0.08', '$0.10']);
check('money, step $0.10', moneyTicks([0, 0.1, 0.2, 0.3, 0.4, 0.5]), ['$0.00', '$0.10', '$0.20', '$0.30', '$0.40', '$0.50']);
check('money, step $0.005', moneyTicks([0, 0.005, 0.01, 0.015]), ['$0.000', '$0.005', '$0.010', '$0.015']);
check('money, step $0.0002', moneyTicks([0.0002, 0.0004]), ['$0.0002', '$0.0004']);
check('money, step $0.50', moneyTicks([1, 1.5, 2, 2.5]), ['$1.00', '$1.50', '$2.00', '$2.50']);
check('money, step $500', moneyTicks([0, 500, 1000, 1500]), ['$0', '$500', '$1,000', '$1,500']);
check('money, one tick and a gap', moneyTicks([0.25, null]), ['$0.25', '']);
check('ms under a second', msTicks([0, 250, 500]), ['0.0 ms', '250 ms', '500 ms']);
check('ms from a second: one unit', msTicks([0, 500, 1000, 1500]), ['0.00 s', '0.50 s', '1.00 s', '1.50 s']);
process.exit(failed ? 1 : 0);
