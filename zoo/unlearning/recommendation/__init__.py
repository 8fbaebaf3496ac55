"""Recommendation unlearning: remove user-item interactions from a trained graph recommender (LightGCN, SGL).

UnlearnRec (Chen, Xia and Huang, "Pre-training for Recommendation Unlearning", SIGIR 2025) with retraining,
SISA-style sharded retraining, influence-function and fine-tuning baselines; reached through
``zoo.unlearn(recommender, "unlearnrec", forget=edges)`` (:mod:`zoo.unlearning.recommendation.family`).
"""
