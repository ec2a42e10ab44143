-- Violations: rows where Ending <> Beginning + Debit - Credit, or Beginning <> the previous period's Ending
-- except at the first fiscal period (P&L accounts restart at zero; retained earnings takes last year's P&L).
-- Reads: tb_run_pcn, tb_balance, tb_period. Params: @startPeriod, @endPeriod.
select b.pcn, b.period, b.account_no, b.beginning_cents, b.debit_cents, b.credit_cents, b.ytd_cents as ending_cents,
  prev.ytd_cents as previous_ending_cents
from tb_balance b
join tb_period p on p.pcn = b.pcn and p.period = b.period
left join tb_period pp on pp.pcn = b.pcn and pp.period = (select max(x.period) from tb_period x where x.pcn = b.pcn and x.period < b.period)
left join tb_balance prev on prev.pcn = b.pcn and prev.account_no = b.account_no and prev.period = pp.period
where b.period between @startPeriod and @endPeriod and b.pcn in (select pcn from tb_run_pcn)
  and (b.ytd_cents <> b.beginning_cents + b.debit_cents - b.credit_cents
       or (p.fiscal_order <> 1 and b.beginning_cents <> coalesce(prev.ytd_cents, 0)))
