# Table IV, Multi-Query Estimator removed: the Nq masks are summed with equal
# weights 1/Nq (text: "removing the MQE leads to a decrease of 1.02").
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(use_estimator=False))
