"""Networks shared by several methods: the residual MLP lifter (``lifter``), heatmap networks
(``heatmap_net``) on ResNet / HRNet backbones (``backbones``), and loading of user-supplied
pretrained weights (``weights``). Networks used by one method only live in its package under
:mod:`weakpose.methods`."""
