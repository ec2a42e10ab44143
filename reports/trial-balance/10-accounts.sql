-- Chart of accounts of one PCN, with the retained earnings account marked (Plex's "RE" standard account).
-- Reads: accounting_v_account_e, plexus_customer. Writes: tb_run_pcn, tb_account. Params: @pcnNo.
insert into tb_run_pcn (pcn) values (@pcnNo);
delete from tb_account where pcn = @pcnNo;
insert into tb_account (pcn, account_no, account_name, category_type, category_name, sub_category_name, add_period, is_retained_earnings)
select a.plexus_customer_no, a.account_no, a.account_name, a.category_type, a.category_name, a.sub_category_name, a.add_period,
  case when a.account_no = c.retained_earnings_account_no then 1 else 0 end
from accounting_v_account_e a
join plexus_customer c on c.plexus_customer_no = a.plexus_customer_no
where a.plexus_customer_no = @pcnNo;
