-- The Plex TB export: one row per PCN, period and account (zeros included), signed debit/(credit).
-- Reads: tb_run_pcn, tb_balance, tb_account, tb_period. Writes: nothing. Params: @startPeriod, @endPeriod.
select b.pcn, p.period_display, a.category_type, a.category_name, a.sub_category_name, a.account_no, a.account_name,
  b.current_cents / 100.0 as current_amount, b.ytd_cents / 100.0 as ytd_amount
from tb_balance b
join tb_account a on a.pcn = b.pcn and a.account_no = b.account_no
join tb_period p on p.pcn = b.pcn and p.period = b.period
where b.period between @startPeriod and @endPeriod
  and b.pcn in (select pcn from tb_run_pcn)
order by b.pcn, b.period, a.account_no
