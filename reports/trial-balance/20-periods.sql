-- Periods of one PCN from its first period up to the end of the range (balance-sheet YTD runs from inception).
-- Reads: accounting_v_period_e. Writes: tb_period. Params: @pcnNo, @endPeriod.
delete from tb_period where pcn = @pcnNo;
insert into tb_period (pcn, period, period_display, fiscal_year, fiscal_order, period_status)
select plexus_customer_no, period, period_display, fiscal_year, fiscal_order, period_status
from accounting_v_period_e
where plexus_customer_no = @pcnNo and period <= @endPeriod;
